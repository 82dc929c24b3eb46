"""A voice's XTTS-v2 config (`<data root>/configs/tts/<voice>_xtts.yaml`), validated before any work.

Every field and its default is documented in `configs/tts/example_xtts.yaml`. Relative paths are
resolved against the YAML file's folder (so the Dagster daemon and the CLI agree whatever their
working directory); `~` and `$VARS` are expanded.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from tts_assets.layout import DataLayout, slugify
from tts_assets.settings.base import StrictSettings, describe_validation, one_line
from tts_assets.xtts import paths
from tts_assets.xtts.errors import XttsConfigError

XTTS_REPO = "the XTTS-v2 model repository (https://huggingface.co/coqui/XTTS-v2)"
COQUI_MIN_SECONDS = 0.5  # coqui's XTTSDataset swaps shorter clips for another one
COQUI_RATE = 22050  # XTTS-v2 reads training audio at 22.05 kHz
OUTPUT_RATE = 24000  # its HiFi-GAN decoder writes 24 kHz
EFFECTIVE_BATCH_ADVICE = 252  # upstream recipe: batch 3 x grad accumulation 84

# How long a fine-tune trains, in optimizer steps (one step: batch_size x grad_accum_steps clips).
# coqui's recipe (recipes/ljspeech/xtts_v2/train_gpt_xtts.py) leaves epochs at the Trainer's 1000, at
# batch 3 x 84, on LJSpeech (13,100 clips, 131 held out): 52 optimizer steps an epoch, 52,000 in all,
# an upper bound to stop short of by listening to its checkpoints (save_step 10,000 batches: one per
# ~119 optimizer steps). The default, 1000 steps, is 252,000 clips seen: ~20 LJSpeech epochs, 126
# epochs of 2,000 clips, about 3 hours of steps on the README benchmark's H200 (0.13 s a batch).
# AdamW moves a weight by about lr a step at most: 1000 steps at 5e-6 allow ~5e-3; fewer than
# MIN_OPTIMIZER_STEPS (~1.25e-3) leave the voice close to the base model, and get a warning (the
# old default, 10 epochs, gave 2,000 clips 80 steps).
DEFAULT_OPTIMIZER_STEPS = 1000
MIN_OPTIMIZER_STEPS = 250

DEFAULT_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Please call Stella and ask her to bring these things with her from the store.",
]


class BaseModelFiles(StrictSettings):
    dir: str | None = None  # None: <data_root>/base_models/xtts_v2
    model: str = "model.pth"
    dvae: str = "dvae.pth"
    mel_stats: str = "mel_stats.pth"
    vocab: str = "vocab.json"


class GptSettings(StrictSettings):
    """The GPT's shape: must match the base checkpoint (the defaults are XTTS-v2's)."""

    layers: int = Field(30, ge=1)
    model_channels: int = Field(1024, ge=8)
    heads: int = Field(16, ge=1)
    max_text_tokens: int = Field(402, ge=8)
    max_audio_tokens: int = Field(605, ge=8)
    max_prompt_tokens: int = Field(70, ge=1)
    num_audio_tokens: int = Field(1026, ge=3)
    start_audio_token: int = 1024
    stop_audio_token: int = 1025
    code_stride_len: int = Field(1024, ge=1)
    use_perceiver_resampler: bool = True
    use_masking_gt_prompt_approach: bool = True
    decoder_input_dim: int = Field(1024, ge=1)
    d_vector_dim: int = Field(512, ge=1)

    @model_validator(mode="after")
    def _tokens(self) -> "GptSettings":
        if self.model_channels % self.heads:
            raise ValueError(f"gpt.model_channels ({self.model_channels}) must be a multiple of gpt.heads ({self.heads})")
        if not (self.start_audio_token < self.num_audio_tokens and self.stop_audio_token < self.num_audio_tokens):
            raise ValueError("gpt.start_audio_token and gpt.stop_audio_token must be below gpt.num_audio_tokens")
        return self


class ExportSettings(StrictSettings):
    """Clips coqui would silently swap for another one are rejected at export, with the reason."""

    min_seconds: float = Field(COQUI_MIN_SECONDS, ge=COQUI_MIN_SECONDS)
    max_samples: int = Field(255995, ge=COQUI_RATE)  # at 22.05 kHz: 11.6 s
    max_text_tokens: int = Field(200, ge=2)  # XTTS tokenizer tokens, language tag included


class TrainingSettings(StrictSettings):
    run_name: str = "main"  # <data_root>/models/<voice>/xtts/<run_name>/; a new name starts over
    steps: int = Field(DEFAULT_OPTIMIZER_STEPS, ge=1)  # optimizer steps; epochs derived from the export's size
    epochs: int | None = Field(None, ge=1)  # None: from steps; set: exactly this many epochs (steps unused)
    batch_size: int = Field(3, ge=1)
    grad_accum_steps: int = Field(84, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)  # None: batch_size
    lr: float = Field(5e-6, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    betas: tuple[float, float] = (0.9, 0.96)
    lr_milestones: list[int] = Field(default_factory=lambda: [900000, 2700000, 5400000])
    lr_gamma: float = Field(0.5, gt=0)
    grad_clip: float = Field(0.0, ge=0)  # 0: off (as upstream)
    mixed_precision: bool = False
    precision: Literal["fp16", "bf16"] = "fp16"
    save_step: int = Field(1000, ge=1)  # a checkpoint about every N batches, and at the run's end
    keep_checkpoints: int = Field(2, ge=1)  # older checkpoint_<step>.pth files are deleted
    print_step: int = Field(50, ge=1)  # progress line in the logs (and the Dagster run) every N steps
    plot_step: int = Field(100, ge=1)  # TensorBoard training scalars every N steps
    run_eval: bool = True  # an export without validation clips trains without evaluation (a warning)
    num_loader_workers: int = Field(8, ge=0)
    seed: int = 1
    min_conditioning_seconds: float = Field(3.0, gt=0)
    max_conditioning_seconds: float = Field(6.0, gt=0)
    text_ce_weight: float = Field(0.01, ge=0)
    mel_ce_weight: float = Field(1.0, ge=0)
    tensorboard_audio: bool = True  # synthesize samples.sentences into TensorBoard at epoch-end checkpoints
    gpu: int | None = None  # None: the first visible GPU, else the CPU

    @model_validator(mode="after")
    def _conditioning(self) -> "TrainingSettings":
        if self.min_conditioning_seconds > self.max_conditioning_seconds:
            raise ValueError("training.min_conditioning_seconds exceeds training.max_conditioning_seconds")
        return self

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps


class SamplesSettings(StrictSettings):
    sentences: list[str] = Field(default_factory=lambda: list(DEFAULT_SENTENCES))
    reference: list[str] = Field(default_factory=list)  # clips (export-relative or absolute); []: longest eval clips
    reference_count: int = Field(3, ge=1)  # how many clips to pick when reference is empty
    checkpoint: str = "best"  # best | last | a checkpoint path
    temperature: float = Field(0.75, gt=0)
    top_k: int = Field(50, ge=1)
    top_p: float = Field(0.85, gt=0, le=1)
    repetition_penalty: float = Field(10.0, gt=0)
    length_penalty: float = 1.0
    speed: float = Field(1.0, gt=0)
    gpt_cond_len: int = Field(6, ge=1)  # seconds of reference audio for the GPT conditioning
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (N outside pipeline steps, which see only their card)


@dataclass(frozen=True)
class BaseFiles:
    model: Path
    dvae: Path
    mel_stats: Path
    vocab: Path

    def items(self) -> list[tuple[str, Path]]:
        return [("model", self.model), ("dvae", self.dvae), ("mel_stats", self.mel_stats), ("vocab", self.vocab)]


class XttsVoiceConfig(StrictSettings):
    voice: str
    language: str = "en"
    base_model: BaseModelFiles = Field(default_factory=BaseModelFiles)
    gpt: GptSettings = Field(default_factory=GptSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    samples: SamplesSettings = Field(default_factory=SamplesSettings)

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> "XttsVoiceConfig":
        if slugify(self.voice) != self.voice:
            raise ValueError(f"voice {self.voice!r} is not a voice key; use {slugify(self.voice)!r}")
        codes = math.ceil(self.export.max_samples / self.gpt.code_stride_len) + 2
        if codes > self.gpt.max_audio_tokens:
            raise ValueError(
                f"export.max_samples {self.export.max_samples} gives {codes} audio positions but "
                f"gpt.max_audio_tokens is {self.gpt.max_audio_tokens}"
            )
        if self.export.max_text_tokens > self.gpt.max_text_tokens:
            raise ValueError(
                f"export.max_text_tokens {self.export.max_text_tokens} exceeds gpt.max_text_tokens "
                f"{self.gpt.max_text_tokens}"
            )
        if not self.samples.sentences:
            raise ValueError("samples.sentences is empty")
        return self

    # ---- loading ----
    @classmethod
    def load(cls, path: str | os.PathLike) -> "XttsVoiceConfig":
        """Parse and validate the YAML (not the files it names: see `check_files`)."""
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise XttsConfigError(path, "no such voice config (copy configs/tts/example_xtts.yaml)")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise XttsConfigError(path, f"cannot read YAML: {one_line(exc)}") from exc
        if not isinstance(data, dict):
            raise XttsConfigError(path, "expected a mapping of settings")
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise XttsConfigError(path, f"invalid config: {describe_validation(exc, cls)}") from exc
        config._source = path
        return config

    @classmethod
    def for_voice(cls, layout: DataLayout, voice: str, config_file: str | os.PathLike | None = None) -> "XttsVoiceConfig":
        """The named file, else the voice's (`paths.voice_config_file`); it must be this voice's."""
        path = Path(config_file) if config_file else paths.voice_config_file(layout, voice)
        config = cls.load(path)
        if config.voice != voice:
            raise XttsConfigError(config.source, f"is voice {config.voice!r}, not {voice!r}")
        return config

    @property
    def source(self) -> Path:
        return self._source or Path("<voice config>")

    def _resolve(self, value: str, base: Path) -> Path:
        expanded = Path(os.path.expandvars(value)).expanduser()
        return expanded if expanded.is_absolute() else (base / expanded).resolve()

    def base_dir(self, layout: DataLayout) -> Path:
        folder = self.source.parent
        if self.base_model.dir:
            return self._resolve(self.base_model.dir, folder)
        return paths.default_base_model_dir(layout)

    def files(self, layout: DataLayout) -> BaseFiles:
        base = self.base_dir(layout)
        b = self.base_model
        return BaseFiles(*(self._resolve(v, base) for v in (b.model, b.dvae, b.mel_stats, b.vocab)))

    def reference_paths(self, layout: DataLayout) -> list[Path]:
        base = paths.export_dir(layout, self.voice)
        return [self._resolve(r, base) for r in self.samples.reference]

    def check_files(self, layout: DataLayout) -> BaseFiles:
        """Every base-model file exists; the vocabulary knows the language. One line names them all."""
        files = self.files(layout)
        missing = [(key, path) for key, path in files.items() if not path.is_file()]
        if missing:
            named = ", ".join(f"base_model.{key} {path}" for key, path in missing)
            names = ", ".join(path.name for _, path in missing)
            raise XttsConfigError(
                self.source, f"missing {named}: download {names} from {XTTS_REPO} into {self.base_dir(layout)}"
            )
        try:
            vocab = json.loads(files.vocab.read_text(encoding="utf-8"))
            tokens = {t["content"] for t in vocab.get("added_tokens", [])} | set(vocab["model"]["vocab"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise XttsConfigError(files.vocab, f"not an XTTS tokenizer vocab.json ({one_line(exc)})") from exc
        tag = "zh-cn" if self.language.split("-")[0] == "zh" else self.language.split("-")[0]
        if f"[{tag}]" not in tokens:
            raise XttsConfigError(
                self.source, f"language {self.language!r}: {files.vocab} has no [{tag}] token (not an XTTS-v2 language)"
            )
        return files

    def effective_batch_warning(self) -> str | None:
        t = self.training
        if t.effective_batch < EFFECTIVE_BATCH_ADVICE:
            return (
                f"training.batch_size {t.batch_size} x training.grad_accum_steps {t.grad_accum_steps} = "
                f"{t.effective_batch} < {EFFECTIVE_BATCH_ADVICE}: upstream advises at least {EFFECTIVE_BATCH_ADVICE} "
                "for stable XTTS fine-tuning"
            )
        return None

    def mixed_precision_warning(self) -> str | None:
        if self.training.mixed_precision:
            return (
                f"training.mixed_precision is on ({self.training.precision} on CUDA, bf16 on CPU): XTTS "
                "losses have gone NaN with fp16 (coqui-ai/TTS #3988); the run stops at the first NaN"
            )
        return None
