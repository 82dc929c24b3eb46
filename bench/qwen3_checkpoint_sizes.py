"""Disk per Qwen3-TTS checkpoint for the released 0.6B and 1.7B Base models, from their parameter
counts (`python -m bench.qwen3_checkpoint_sizes`; no weights needed).

The models are built on the `meta` device from `bench.qwen3_step`'s configurations of the published
sizes. The speech tokenizer is 682 MB (fp32 safetensors of the released `speech_tokenizer/`), the
text tokenizer (vocab.json, merges.txt) and configs about 5 MB.
"""

from __future__ import annotations

import torch

from bench.qwen3_step import model_config

SPEECH_TOKENIZER_BYTES = 682e6
OTHER_BYTES = 5e6
# Bytes a parameter: fp32 weights + AdamW's two fp32 moments; bf16 weights + optimi's bf16 moments and
# Kahan compensation (`qwen3.weights: bfloat16`); bf16 servable weights.
FULL, BF16_TRAINING, SERVABLE = (4, 8), (2, 6), 2


def parameter_counts(size: str) -> tuple[int, int]:
    """All parameters and those of the speaker encoder (which upstream's checkpoints drop)."""
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    with torch.device("meta"):
        model = Qwen3TTSForConditionalGeneration(model_config(size))
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for n, p in model.named_parameters() if n.startswith("speaker_encoder."))


def main() -> None:
    print("| model | parameters | newest (resumable) | newest, `weights: bfloat16` | older / promoted (servable) "
          "| upstream `sft_12hz.py` | before: each checkpoint |")
    print("|---|---|---|---|---|---|---|")
    for name in ("0.6B", "1.7B"):
        total, speaker = parameter_counts(name)
        trained = total - speaker  # the optimizer holds no state for the frozen speaker encoder

        def gb(weights_bytes: float, optimizer_bytes: float = 0, extra: float = OTHER_BYTES) -> str:
            return f"{(weights_bytes + optimizer_bytes + extra) / 1e9:.1f} GB"

        print(f"| {name} | {total / 1e9:.3f} B | {gb(FULL[0] * total, FULL[1] * trained)} "
              f"| {gb(BF16_TRAINING[0] * total, BF16_TRAINING[1] * trained)} | {gb(SERVABLE * total)} "
              f"| {gb(SERVABLE * trained, extra=OTHER_BYTES + SPEECH_TOKENIZER_BYTES)} "
              f"| {gb(FULL[0] * total, FULL[1] * trained, OTHER_BYTES + SPEECH_TOKENIZER_BYTES)} |")
    print(f"\nplus one shared speech tokenizer per run folder: {SPEECH_TOKENIZER_BYTES / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
