"""XTTS-v2 GPT fine-tuning step time and memory, fp32 vs mixed precision, full-size GPT with random
weights (nothing downloaded), and whether fp16 losses go NaN. Meant for a GPU machine:

    .venv/bin/python bench/bench_xtts_gpu.py --steps 20 --batch-size 3 --seconds 10 --precisions fp32,fp16,bf16

The measuring code is `tts_assets.xtts.bench` (its tiny-GPT mode runs in the test suite).
"""

from tts_assets.xtts.bench import main

if __name__ == "__main__":
    main()
