"""Qwen3-TTS fine-tuning step time and memory at full size with random weights (nothing downloaded),
our settings vs the upstream recipe's on the same batch. Meant for a GPU machine:

    .venv/bin/python bench/bench_qwen3_gpu.py --size 0.6B --batch-size 8 --seconds 8 --steps 10

The measuring code is `tts_assets.qwen3.bench` (its tiny mode runs in the test suite).
"""

from tts_assets.qwen3.bench import main

if __name__ == "__main__":
    main()
