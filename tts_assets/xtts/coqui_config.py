"""coqui's side of an XTTS run: its trainer classes (imported lazily), the GPTTrainerConfig built
from the voice config, and the clips that condition the samples."""

from __future__ import annotations

from pathlib import Path

import torch

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import coqui_model_args
from tts_assets.xtts.config import COQUI_RATE, OUTPUT_RATE, BaseFiles, XttsVoiceConfig
from tts_assets.xtts.errors import XttsConfigError, XttsDataError
from tts_assets.xtts.plan import TrainingPlan, plan_training


def import_coqui():
    """coqui's XTTS trainer modules; their import sets torch to one thread, which is undone."""
    threads = torch.get_num_threads()
    from TTS.tts.layers.xtts.trainer import dataset as _dataset  # noqa: F401  (sets 1 thread)
    from TTS.tts.layers.xtts.trainer.gpt_trainer import GPTArgs, GPTTrainer, GPTTrainerConfig

    torch.set_num_threads(threads)
    return GPTArgs, GPTTrainer, GPTTrainerConfig


def export_files(layout: DataLayout, voice: str) -> tuple[Path, Path]:
    return paths.metadata_train(layout, voice), paths.metadata_eval(layout, voice)


def count_rows(csv_path: Path) -> int:
    with open(csv_path, encoding="utf-8") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


def training_plan(layout: DataLayout, config: XttsVoiceConfig) -> TrainingPlan:
    """The run's epochs and steps for the voice's export (which must have a training clip)."""
    train_csv, eval_csv = export_files(layout, config.voice)
    if not train_csv.is_file():
        raise XttsDataError(train_csv, f"no XTTS export for voice {config.voice!r}; export the dataset first")
    train_clips = count_rows(train_csv)
    if train_clips == 0:
        raise XttsDataError(train_csv, "no training clips (see rejections.jsonl beside it)")
    eval_clips = count_rows(eval_csv) if eval_csv.is_file() else 0
    return plan_training(config.training, train_clips, eval_clips)


def choose_reference(layout: DataLayout, config: XttsVoiceConfig) -> list[Path]:
    """The conditioning clips for samples: the config's, else the longest eval clips of the export
    (train clips when there is no eval split)."""
    if config.samples.reference:
        references = config.reference_paths(layout)
        missing = [str(p) for p in references if not p.is_file()]
        if missing:
            raise XttsConfigError(config.source, f"samples.reference: {', '.join(missing)} does not exist")
        return references
    manifest = paths.export_manifest(layout, config.voice)
    if not manifest.is_file():
        raise XttsDataError(manifest, f"no XTTS export for voice {config.voice!r}; run the export first")
    rows = list(read_jsonl(manifest))
    pool = [r for r in rows if r["split"] == "eval"] or rows
    if not pool:
        raise XttsDataError(manifest, "no exported clips to take a reference from")
    pool.sort(key=lambda r: (-r["samples"], r["audio_file"]))
    return [paths.export_dir(layout, config.voice) / r["audio_file"] for r in pool[: config.samples.reference_count]]


def build_trainer_config(config: XttsVoiceConfig, files: BaseFiles, layout: DataLayout, test_sentences: list[dict],
                         plan: TrainingPlan | None = None):
    """coqui's config of the run; its epochs and evaluation are the plan's (default: the export's;
    without an export, as for `bench.xtts_step`, which steps the trainer itself: training.epochs or 1)."""
    if plan is None and export_files(layout, config.voice)[0].is_file():
        plan = training_plan(layout, config)
    epochs = plan.epochs if plan else config.training.epochs or 1
    evaluate = plan.evaluate if plan else config.training.run_eval
    GPTArgs, _, GPTTrainerConfig = import_coqui()
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.configs.xtts_config import XttsAudioConfig

    t = config.training
    run_dir = paths.run_dir(layout, config.voice, t.run_name)
    model_args = GPTArgs(
        **coqui_model_args(config),
        max_conditioning_length=int(t.max_conditioning_seconds * COQUI_RATE),
        min_conditioning_length=int(t.min_conditioning_seconds * COQUI_RATE),
        debug_loading_failures=True,  # a sample coqui still swaps is logged, not silent
        max_wav_length=config.export.max_samples,
        max_text_length=config.export.max_text_tokens,
        mel_norm_file=str(files.mel_stats),
        dvae_checkpoint=str(files.dvae),
        xtts_checkpoint="",  # loaded here read-only: coqui's loader may rewrite the hub file in place
        tokenizer_file=str(files.vocab),
        gpt_loss_text_ce_weight=t.text_ce_weight,
        gpt_loss_mel_ce_weight=t.mel_ce_weight,
    )
    dataset = BaseDatasetConfig(
        formatter="coqui", dataset_name=config.voice, path=str(paths.export_dir(layout, config.voice)),
        meta_file_train=paths.metadata_train(layout, config.voice).name,
        meta_file_val=paths.metadata_eval(layout, config.voice).name if evaluate else "",
        language=config.language,
    )
    return GPTTrainerConfig(
        output_path=str(run_dir.parent), run_name=t.run_name, project_name=f"xtts_{config.voice}",
        run_description=f"XTTS-v2 fine-tune of voice {config.voice} from {config.source}",
        dashboard_logger="tensorboard", model_args=model_args,
        audio=XttsAudioConfig(sample_rate=COQUI_RATE, dvae_sample_rate=COQUI_RATE, output_sample_rate=OUTPUT_RATE),
        batch_size=t.batch_size, eval_batch_size=t.eval_batch_size or t.batch_size,
        num_loader_workers=t.num_loader_workers, num_eval_loader_workers=t.num_loader_workers,
        epochs=epochs, print_step=t.print_step, plot_step=t.plot_step, log_model_step=t.save_step,
        save_step=t.save_step, save_n_checkpoints=t.keep_checkpoints, save_checkpoints=True, save_all_best=False,
        print_eval=False, run_eval=evaluate, test_delay_epochs=0,
        mixed_precision=t.mixed_precision, precision=t.precision, grad_clip=t.grad_clip,
        optimizer="AdamW", optimizer_wd_only_on_weights=True,
        optimizer_params={"betas": list(t.betas), "eps": 1e-8, "weight_decay": t.weight_decay},
        lr=t.lr, lr_scheduler="MultiStepLR", scheduler_after_epoch=False,
        lr_scheduler_params={"milestones": list(t.lr_milestones), "gamma": t.lr_gamma, "last_epoch": -1},
        training_seed=t.seed, datasets=[dataset], test_sentences=test_sentences,
    )
