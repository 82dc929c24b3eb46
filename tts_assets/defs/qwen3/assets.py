"""Qwen3-TTS: audio codes → fine-tuned checkpoint → samples of each new checkpoint."""

import os

import dagster as dg

from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.gpu import GPU, gpu_step, on_a_free_card, on_free_cards
from tts_assets.defs.failures import step_failure
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import TtsAssetsError
from tts_assets.qwen3 import paths
from tts_assets.qwen3.codes import encode_voice_codes
from tts_assets.settings import SETTINGS_ENV, Qwen3Settings, Settings

GROUP = "qwen3"


class Qwen3RunConfig(dg.Config):
    """Per-run overrides of the `qwen3:` settings (the command line's flags land here)."""

    base_model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    lr: float | None = None
    gpus: int | None = None  # on Kubernetes at most the cards its pod requested (TRAINING_GPUS)
    max_steps: int = 0  # stop after this many optimizer steps (0: all epochs)


def _settings(tts: TtsAssetsResource, config: Qwen3RunConfig | None = None) -> Qwen3Settings:
    overrides = config.model_dump(exclude={"max_steps"}) if config else {}
    return tts.settings().qwen3.with_overrides(**overrides)


def _training_gpus() -> int:
    """The cards the training step's pod requests on Kubernetes: part of the step's definition, so
    read from the settings file when the definitions load (reload the code location after a change).
    A settings file that cannot be read leaves one: the definitions still load, and each step
    reports the file's error in its one line."""
    try:
        return Settings.load(os.environ.get(SETTINGS_ENV)).qwen3.gpus
    except TtsAssetsError:
        return 1


TRAINING_GPUS = _training_gpus()


@dg.asset(partitions_def=voice_partitions, group_name=GROUP, deps=[aligned_dataset], **GPU)
@on_a_free_card
def qwen3_codes(context: dg.AssetExecutionContext, config: Qwen3RunConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """Every kept clip encoded by the 12 Hz speech tokenizer (24 kHz, batched): the JSONL manifest
    upstream's recipe reads, and a compact NumPy store the trainer reads."""
    from tts_assets.qwen3.model import resolve_device  # torch: loaded by the step, not the code location

    settings = _settings(tts, config)
    try:
        summary = encode_voice_codes(tts.layout(), context.partition_key, settings, resolve_device(settings.device))
    except TtsAssetsError as error:
        raise step_failure(error) from None
    return dg.MaterializeResult(metadata={
        **summary,
        "manifest": dg.MetadataValue.path(str(paths.codes_manifest(tts.layout(), context.partition_key))),
    })


@dg.asset(partitions_def=voice_partitions, group_name=GROUP, deps=[qwen3_codes], **gpu_step(TRAINING_GPUS),
          kinds={"pytorch"})
@on_free_cards(lambda config, tts: _settings(tts, config).gpus)
def qwen3_checkpoint(context: dg.AssetExecutionContext, config: Qwen3RunConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The voice's fine-tuned custom-voice checkpoint (resumes a killed run from its last checkpoint)."""
    from tts_assets.qwen3.checkpoint import checkpoint_bytes
    from tts_assets.qwen3.train import train_voice

    voice = context.partition_key
    try:
        result = train_voice(tts.layout(), voice, _settings(tts, config), max_steps=config.max_steps)
    except TtsAssetsError as error:
        raise step_failure(error) from None
    run = paths.run_dir(tts.layout(), voice)
    return dg.MaterializeResult(metadata={
        "checkpoint": dg.MetadataValue.path(str(result.checkpoint)),
        "step": result.step,
        "resumed_from_step": result.resumed_from_step if result.resumed_from_step is not None else -1,
        "final_train_loss": result.train_losses[-1] if result.train_losses else float("nan"),
        "val_losses": dg.MetadataValue.json(result.val_losses),
        **({"plan": dg.MetadataValue.json(result.plan.summary())} if result.plan else {}),
        "checkpoint_bytes": dg.MetadataValue.json(checkpoint_bytes(result.checkpoint)),
        "tensorboard": dg.MetadataValue.path(str(run / "tensorboard")),
        "tensorboard_command": dg.MetadataValue.text(f"tts-assets tensorboard  # logs in {run / 'tensorboard'}"),
    })


@dg.asset(partitions_def=voice_partitions, group_name=GROUP, deps=[qwen3_checkpoint], kinds={"wav"}, **GPU)
@on_a_free_card
def qwen3_samples(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The fixed sentences spoken by the newest checkpoint: WAVs beside it and in TensorBoard."""
    from tts_assets.qwen3.samples import write_samples

    voice = context.partition_key
    try:
        written = write_samples(tts.layout(), voice, _settings(tts))
    except TtsAssetsError as error:
        raise step_failure(error) from None
    table = "\n".join(f"| {s['text']} | {s['seconds']:.2f} | `{s['path']}` |" for s in written["samples"])
    return dg.MaterializeResult(metadata={
        "checkpoint": dg.MetadataValue.path(written["checkpoint"]),
        "samples": dg.MetadataValue.md("| sentence | seconds | file |\n|---|---|---|\n" + table),
        "folder": dg.MetadataValue.path(written["folder"]),
    })
