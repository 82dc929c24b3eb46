"""XTTS-v2 fine-tuning of a voice (no Dagster here): the coqui export (`export`), the voice config
and its checks against the base files (`config`, `base_model`), training through coqui's
GPTTrainer/Trainer (`train`), inference and samples (`inference`), contract checks (`checks`),
and every path (`paths`). The precision benchmark is `bench.xtts_step`, outside the package."""
