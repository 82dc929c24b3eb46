"""XTTS-v2 per voice: coqui export → fine-tuned checkpoint (pool `gpu`) → samples of it.

Each asset takes the voice's config from its run config (`config_file`), else from
`<data root>/configs/tts/<voice>_xtts.yaml` ($TTS_ASSETS_XTTS_CONFIGS names another folder).
"""

import dagster as dg

from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.gpu import GPU, on_a_free_card
from tts_assets.defs.failures import step_failure
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import TtsAssetsError
from tts_assets.xtts import paths
from tts_assets.xtts.config import XttsVoiceConfig


class XttsRunConfig(dg.Config):
    config_file: str = ""  # the voice's YAML; empty: the voice's (xtts.paths.voice_config_file)
    run_name: str = ""  # overrides training.run_name (the nightly schedule starts a run per new dataset)



def voice_config(context: dg.AssetExecutionContext, config: XttsRunConfig, tts: TtsAssetsResource) -> XttsVoiceConfig:
    try:
        settings = XttsVoiceConfig.for_voice(tts.layout(), context.partition_key, config.config_file or None)
    except TtsAssetsError as error:
        raise step_failure(error) from None
    if config.run_name:
        settings.training.run_name = config.run_name
    return settings


def _tensorboard(layout, voice: str) -> str:
    return f"tensorboard --logdir {paths.xtts_models_dir(layout, voice)}"


def training_metadata(result) -> dict:
    """How long the run trains and on what (`xtts.plan`), as the checkpoint's metadata: optimizer
    steps are batch_size x grad_accum_steps clips; `step` counts batches, as checkpoint names do."""
    return {
        "train_clips": result.train_clips,
        "eval_clips": result.eval_clips,
        "effective_batch": result.effective_batch,
        "batches_per_epoch": result.batches_per_epoch,
        "steps_per_epoch": result.steps_per_epoch,
        "total_optimizer_steps": result.total_optimizer_steps,
        "epochs_from": dg.MetadataValue.text(
            f"training.steps {result.target_steps}" if result.target_steps is not None else "training.epochs"),
        "evaluation": dg.MetadataValue.text(result.evaluation),
        "warnings": dg.MetadataValue.json(list(result.warnings)),
        **({"optimizer_steps": result.optimizer_steps} if result.optimizer_steps is not None else {}),
    }


@dg.asset(partitions_def=voice_partitions, group_name="xtts", deps=[aligned_dataset], kinds={"csv"})
def xtts_export(context: dg.AssetExecutionContext, config: XttsRunConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The aligned dataset in coqui's format (metadata_train.csv / metadata_eval.csv from the
    train/val split, 22.05 kHz clips); clips coqui would silently swap are rejected with reasons."""
    from tts_assets.xtts.export import export_xtts_dataset

    layout = tts.layout()
    settings = voice_config(context, config, tts)
    try:
        summary = export_xtts_dataset(layout, settings)
    except TtsAssetsError as error:
        raise step_failure(error) from None
    voice = settings.voice
    return dg.MaterializeResult(
        metadata={
            "metadata_train": dg.MetadataValue.path(str(paths.metadata_train(layout, voice))),
            "metadata_eval": dg.MetadataValue.path(str(paths.metadata_eval(layout, voice))),
            "rejections": dg.MetadataValue.path(str(paths.export_rejections(layout, voice))),
            "voice_config": dg.MetadataValue.path(str(settings.source)),
            **{k: summary[k] for k in ("clips_in", "train", "eval", "rejected", "minutes_train", "minutes_eval",
                                       "max_tokens_seen")},
            "rejections_by_reason": dg.MetadataValue.json(summary["rejections_by_reason"]),
        }
    )


@dg.asset(
    partitions_def=voice_partitions,
    group_name="xtts",
    deps=[xtts_export],
    **GPU,
    kinds={"pytorch"},
)
@on_a_free_card
def xtts_checkpoint(context: dg.AssetExecutionContext, config: XttsRunConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The voice's fine-tuned XTTS-v2 GPT: coqui's GPTTrainer for training.steps optimizer steps
    (whole epochs; training.epochs when set), resumed from the run's newest checkpoint; evaluated
    after every epoch when the export has validation clips; the plan in the metadata, progress in
    the run's logs, scalars in TensorBoard."""
    from tts_assets.xtts.train import train_xtts

    layout = tts.layout()
    settings = voice_config(context, config, tts)
    try:
        result = train_xtts(layout, settings)
    except TtsAssetsError as error:
        raise step_failure(error) from None
    for warning in result.warnings:
        context.log.warning(warning)
    optional = {k: v for k, v in {
        "train_loss": result.train_loss, "eval_loss": result.eval_loss, "best_loss": result.best_loss,
        "median_step_s": result.median_step_s,
        "peak_gpu_mb": result.peak_gpu_mb, "resumed_step": result.resumed_step,
    }.items() if v is not None}
    return dg.MaterializeResult(
        metadata={
            "checkpoint": dg.MetadataValue.path(str(result.last_checkpoint)),
            "best_checkpoint": dg.MetadataValue.path(str(result.best_checkpoint or result.last_checkpoint)),
            "run_dir": dg.MetadataValue.path(str(result.run_dir)),
            "tensorboard": dg.MetadataValue.text(_tensorboard(layout, settings.voice)),
            "step": result.step,
            "epoch": result.epoch,
            "epochs": result.epochs,
            "steps_this_run": result.steps_this_run,
            "already_done": result.already_done,
            "device": result.device,
            "peak_rss_mb": result.peak_rss_mb,
            **training_metadata(result),
            **optional,
        },
        data_version=dg.DataVersion(f"{settings.training.run_name}:{result.step}"),
    )


@dg.asset(
    partitions_def=voice_partitions,
    group_name="xtts",
    deps=[xtts_checkpoint],
    **GPU,
    kinds={"wav"},
)
@on_a_free_card
def xtts_samples(context: dg.AssetExecutionContext, config: XttsRunConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The config's fixed sentences spoken by the run's newest checkpoint (reference clips from the
    dataset), beside the checkpoint and in TensorBoard. The `train_xtts` job renders them after every
    training, so every new checkpoint gets its samples."""
    from tts_assets.xtts.samples import render_samples

    layout = tts.layout()
    settings = voice_config(context, config, tts)
    try:
        result = render_samples(layout, settings)
    except TtsAssetsError as error:
        raise step_failure(error) from None
    table = "| file | seconds | text |\n|---|---|---|\n" + "".join(
        f"| `{path}` | {row['seconds']} | {row['text']} |\n" for path, row in zip(result.files, result.rows))
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(str(result.folder)),
            "checkpoint": dg.MetadataValue.path(str(result.checkpoint)),
            "step": result.step,
            "samples": dg.MetadataValue.md(table),
            **{f"sample_{i}": dg.MetadataValue.path(str(p)) for i, p in enumerate(result.files)},
            "references": dg.MetadataValue.json([str(p) for p in result.references]),
            "tensorboard": dg.MetadataValue.text(_tensorboard(layout, settings.voice)),
        }
    )
