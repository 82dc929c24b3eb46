"""Speech from a fine-tuned checkpoint, the way coqui documents it:
`XttsConfig.load_json` → `Xtts.init_from_config` (its constructor: the classmethod is deprecated in
coqui-tts 0.28) → `load_checkpoint` → `get_conditioning_latents` → `inference` (24 kHz). Text longer
than the model's character limit is spoken in pieces up to that limit, cut at sentence ends
(`tts_assets.text.sentences`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tts_assets.atomic import write_wav_atomic
from tts_assets.layout import DataLayout
from tts_assets.text.sentences import text_pieces
from tts_assets.xtts.config import OUTPUT_RATE, XttsVoiceConfig
from tts_assets.errors import CheckpointNotFoundError
from tts_assets.xtts.checkpoint import best_checkpoint, checkpoint_info, last_checkpoint, newest_run_dir
from tts_assets.xtts.coqui_config import choose_reference

log = logging.getLogger(__name__)


def resolve_checkpoint(layout: DataLayout, config: XttsVoiceConfig, which: str | None = None) -> Path:
    """`best` (lowest eval loss; the newest checkpoint when there is no best yet) or `last` of the
    voice's newest run, or a path."""
    which = which or config.samples.checkpoint
    run = newest_run_dir(layout, config.voice, config.training.run_name)
    if which in ("best", "last"):
        found = (best_checkpoint(run) or last_checkpoint(run)) if which == "best" else last_checkpoint(run)
        if found is None:
            raise CheckpointNotFoundError(run, f"no checkpoint of voice {config.voice!r}; run `tts-assets train-xtts` first")
        return found
    path = Path(which).expanduser()
    if not path.is_absolute():
        path = (config.source.parent / path).resolve()
    if not path.is_file():
        raise CheckpointNotFoundError(path, "no such checkpoint (samples.checkpoint)")
    return path


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@dataclass
class VoiceModel:
    model: object  # TTS.tts.models.xtts.Xtts
    checkpoint: Path
    step: int
    language: str
    device: str
    references: list[Path] = field(default_factory=list)
    _latents: tuple | None = None

    def conditioning(self, gpt_cond_len: int):
        if self._latents is None:
            self._latents = self.model.get_conditioning_latents(
                audio_path=[str(p) for p in self.references], gpt_cond_len=gpt_cond_len, max_ref_length=30
            )
        return self._latents


def load_voice(layout: DataLayout, config: XttsVoiceConfig, checkpoint: Path | None = None,
               device: str | None = None, references: list[Path] | None = None) -> VoiceModel:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    checkpoint = checkpoint or resolve_checkpoint(layout, config)
    files = config.check_files(layout)
    config_json = checkpoint.parent / "config.json"
    if not config_json.is_file():
        raise CheckpointNotFoundError(config_json, "missing beside the checkpoint (written by the trainer)")
    started = time.perf_counter()
    coqui_config = XttsConfig()
    coqui_config.load_json(str(config_json))
    model = Xtts(coqui_config)  # = Xtts.init_from_config, deprecated in coqui-tts 0.28
    model.load_checkpoint(coqui_config, checkpoint_path=str(checkpoint), vocab_path=str(files.vocab), eval=True)
    chosen = _device(device or config.samples.device)
    model.to(chosen)
    step = checkpoint_info(checkpoint)["step"]
    log.info("%s: loaded %s (step %d) on %s in %.1f s", config.voice, checkpoint, step, chosen,
             time.perf_counter() - started)
    return VoiceModel(model, checkpoint, step, config.language, chosen,
                      references if references is not None else choose_reference(layout, config))


def synthesize(voice: VoiceModel, config: XttsVoiceConfig, text: str) -> np.ndarray:
    """One text as float32 samples at 24 kHz; long text is spoken sentence by sentence."""
    s = config.samples
    gpt_cond_latent, speaker_embedding = voice.conditioning(s.gpt_cond_len)
    limit = voice.model.tokenizer.char_limits.get(voice.language.split("-")[0], 250)
    pause = np.zeros(int(0.2 * OUTPUT_RATE), dtype=np.float32)
    parts = []
    torch.manual_seed(s.seed)
    # Our splitter, not coqui's (enable_text_splitting needs spaCy, which coqui-tts does not install).
    for piece in text_pieces(" ".join(text.split()), limit, pack=True):
        with torch.inference_mode():
            out = voice.model.inference(
                piece, voice.language, gpt_cond_latent, speaker_embedding, temperature=s.temperature,
                length_penalty=s.length_penalty, repetition_penalty=s.repetition_penalty, top_k=s.top_k,
                top_p=s.top_p, speed=s.speed, enable_text_splitting=False,
            )
        wav = out["wav"]
        if isinstance(wav, torch.Tensor):
            wav = wav.detach().cpu().numpy()
        parts += [np.asarray(wav, dtype=np.float32).reshape(-1), pause]
    return np.concatenate(parts[:-1]) if parts else np.zeros(0, dtype=np.float32)


def infer_to_file(layout: DataLayout, config: XttsVoiceConfig, out_wav: Path, text: str | None = None,
                  checkpoint: Path | None = None) -> dict:
    """Speak `text` (default: the first sample sentence) into `out_wav` (24 kHz, written atomically)."""
    voice = load_voice(layout, config, checkpoint)
    text = text or config.samples.sentences[0]
    started = time.perf_counter()
    wav = synthesize(voice, config, text)
    elapsed = time.perf_counter() - started
    write_wav_atomic(Path(out_wav), np.clip(wav, -1.0, 1.0), OUTPUT_RATE, "PCM_16")
    return {"path": str(out_wav), "seconds": round(len(wav) / OUTPUT_RATE, 3), "checkpoint": str(voice.checkpoint),
            "step": voice.step, "synthesis_s": round(elapsed, 2), "text": text}


def infer_from_config(layout: DataLayout, config_path: Path, out_wav: Path, text: str | None = None,
                      checkpoint: str | None = None) -> dict:
    """The `tts-assets infer CONFIG.yaml` path: the voice config's checkpoint (`samples.checkpoint`:
    best, last, or a file; a command-line path is relative to the working folder) speaks `text`."""
    config = XttsVoiceConfig.load(config_path)
    config.check_files(layout)
    if checkpoint and checkpoint not in ("best", "last"):
        checkpoint = str(Path(checkpoint).expanduser().resolve())
    return infer_to_file(layout, config, out_wav, text, resolve_checkpoint(layout, config, checkpoint))
