"""Evaluate a checkpoint: speak held-out sentences, measure them, judge, promote the good ones.

For each sentence (the voice's held-out `split == "val"` texts by default) the checkpoint speaks
with a fixed seed and a generation cap above the runaway bound; then

- **intelligibility**: faster-whisper transcribes the audio; the word error rate against the text
  is computed over all sentences (numbers and abbreviations spelled out on both sides);
- **speaker similarity**: cosine similarity of a speaker embedding of the output to the voice's
  reference clip (an independent encoder by default, see `speaker.py`); for held-out sentences the
  real recordings are measured the same way, the ceiling to read the figure against;
- **duration sanity**: seconds of output per character of text (runaway generation goes long) and
  seconds of sound per character (silence or truncation goes short).

The WAVs and a report stay in `models/<voice>/<engine>/evaluations/<checkpoint>/`; every
evaluation is a line of `evaluations.jsonl`; a checkpoint that meets every threshold is promoted
(`latest.json`), the one the server speaks with.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tts_assets.settings import AsrSettings
from tts_assets.asr.whisper import load_model
from tts_assets.atomic import write_text_atomic, write_wav_atomic
from tts_assets.models import paths
from tts_assets.errors import EvaluationError
from tts_assets.evaluate.measures import sounding_seconds, transcribe, word_error_rate
from tts_assets.models.promotion import append_history, promote, read_promoted, step_of
from tts_assets.settings import EvaluationSettings
from tts_assets.evaluate.speaker import SpeakerEmbedder, cosine, load_embedder
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.models.engines import ENGINES, Synthesizer
from tts_assets.text.sentences import speakable

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    voice: str
    engine: str
    checkpoint: str
    step: int | None
    figures: dict
    thresholds: dict
    failures: list[str]
    sentences: list[dict] = field(default_factory=list)
    sentence_source: str = ""
    speaker_model: str | None = None
    reference: str | None = None
    evaluated_at: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class HeldOut:
    texts: list[str]
    source: str  # settings | val | fallback
    audio: list[Path | None]  # the real recordings of val sentences


def held_out_sentences(layout: DataLayout, voice: str, settings: EvaluationSettings) -> HeldOut:
    """The configured sentences, else the texts of the voice's validation clips, else fixed ones."""
    if settings.sentences:
        texts = [t for t in settings.sentences if t.strip()][: settings.max_sentences]
        return HeldOut(texts, "settings", [None] * len(texts))
    manifest = layout.aligned_manifest(voice)
    if manifest.is_file():
        rows = [r for r in read_jsonl(manifest) if r.get("split") == "val" and str(r.get("text", "")).strip()]
        rows = rows[: settings.max_sentences]
        if rows:
            audio = [layout.dataset_dir(voice) / r["audio_file"] for r in rows]
            return HeldOut([r["text"] for r in rows], "val", audio)
    texts = settings.fallback_sentences[: settings.max_sentences]
    return HeldOut(texts, "fallback", [None] * len(texts))


def reference_clip(layout: DataLayout, voice: str, settings: EvaluationSettings) -> Path:
    """The configured reference, else the one the Qwen3 codes were made with, else the clip the
    Qwen3 conversion would choose (best-aligned 5-10 s training clip)."""
    from tts_assets.qwen3.codes import choose_reference
    from tts_assets.qwen3.paths import codes_manifest

    if settings.reference_audio:
        reference = Path(settings.reference_audio).expanduser()
    elif codes_manifest(layout, voice).is_file():
        first = next(iter(read_jsonl(codes_manifest(layout, voice))), {})
        reference = Path(first.get("ref_audio", ""))
    elif layout.aligned_manifest(voice).is_file():
        reference = choose_reference(list(read_jsonl(layout.aligned_manifest(voice))), layout.dataset_dir(voice))
    else:
        raise EvaluationError(layout.aligned_manifest(voice), "no dataset to take a reference clip from; "
                                                              "set evaluation.reference_audio")
    if not reference.is_file():
        raise EvaluationError(reference, "reference clip not found")
    return reference


def asr_settings_for(settings: EvaluationSettings, dataset_asr: AsrSettings | None = None) -> AsrSettings:
    return (dataset_asr or AsrSettings()).with_overrides(model=settings.asr_model, language=settings.language)


def verdict(figures: dict, settings: EvaluationSettings) -> list[str]:
    """The thresholds not met, one line each (empty: the checkpoint passes)."""
    failures = []
    if settings.max_wer is not None:
        wer = figures["wer"]
        if not math.isfinite(wer) or wer > settings.max_wer:
            failures.append(f"word error rate {wer:.3f} > {settings.max_wer}")
    if settings.min_speaker_similarity is not None and "speaker_similarity" in figures:
        if figures["speaker_similarity"] < settings.min_speaker_similarity:
            failures.append(f"speaker similarity {figures['speaker_similarity']:.3f} "
                            f"< {settings.min_speaker_similarity}")
    if settings.max_seconds_per_char is not None and figures["seconds_per_char_max"] > settings.max_seconds_per_char:
        failures.append(f"runaway generation: {figures['seconds_per_char_max']:.3f} s per character "
                        f"> {settings.max_seconds_per_char} ({figures['too_long']} sentence(s))")
    if (settings.min_speech_seconds_per_char is not None
            and figures["speech_seconds_per_char_min"] < settings.min_speech_seconds_per_char):
        failures.append(f"silence or truncation: {figures['speech_seconds_per_char_min']:.3f} s of sound per character "
                        f"< {settings.min_speech_seconds_per_char} ({figures['too_short']} sentence(s))")
    return failures


def evaluate_checkpoint(
    layout: DataLayout,
    voice: str,
    checkpoint: Path,
    settings: EvaluationSettings | None = None,
    *,
    engine: str = "qwen3",
    synthesizer: Synthesizer | None = None,
    asr: AsrSettings | None = None,
    asr_model=None,
    embedder: SpeakerEmbedder | None | str = "load",
) -> Evaluation:
    """Measure `checkpoint` (see the module's docstring). `synthesizer`, `asr_model` and `embedder`
    may be given already loaded (the embedder None: no speaker similarity)."""
    settings = settings or EvaluationSettings()
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise EvaluationError(checkpoint, "no such checkpoint")
    held_out = held_out_sentences(layout, voice, settings)
    if not held_out.texts:
        raise EvaluationError(layout.aligned_manifest(voice), "no sentences to evaluate with")
    if embedder == "load":
        embedder = load_embedder(settings.speaker_model, checkpoint)
    reference = reference_clip(layout, voice, settings) if embedder is not None else None
    asr_model = asr_model or load_model(asr or asr_settings_for(settings))
    owned = synthesizer is None
    if owned:
        if engine not in ENGINES:
            raise EvaluationError(checkpoint, f"unknown engine {engine!r}; known: {sorted(ENGINES)}")
        synthesizer = ENGINES[engine].load(layout, voice, checkpoint, settings.device)
    try:
        return _measure(layout, voice, checkpoint, settings, engine, synthesizer, asr_model, embedder, reference,
                        held_out)
    finally:
        if owned:
            synthesizer.close()  # frees the (GPU) memory before the next step of a run


def _measure(layout: DataLayout, voice: str, checkpoint: Path, settings: EvaluationSettings, engine: str,
             synthesizer: Synthesizer, asr_model, embedder: SpeakerEmbedder | None, reference: Path | None,
             held_out: HeldOut) -> Evaluation:
    reference_embedding = None
    if embedder is not None:
        audio, rate = sf.read(reference, dtype="float32", always_2d=True)
        reference_embedding = embedder.embed(audio.mean(axis=1), rate)
        if reference_embedding is None:
            raise EvaluationError(reference, "the reference clip holds no speech")
    out_dir = paths.evaluation_dir(layout, voice, engine, checkpoint)
    for old in out_dir.glob("sentence_*.wav"):  # from an earlier evaluation of this checkpoint
        old.unlink()
    started = time.monotonic()
    synthesis_s = 0.0
    rows = []
    for index, text in enumerate(held_out.texts):
        spoken_text = speakable(text, settings.language)
        began = time.monotonic()
        audio, rate = synthesizer.speak(spoken_text, max_seconds=settings.generation_seconds(spoken_text),
                                        seed=settings.seed + index)
        synthesis_s += time.monotonic() - began
        audio = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1))
        wav = out_dir / f"sentence_{index:02d}.wav"
        write_wav_atomic(wav, np.clip(audio, -1, 1), rate, "PCM_16")
        chars = max(1, len(spoken_text))
        seconds = len(audio) / rate
        sound = sounding_seconds(audio, rate)
        heard = transcribe(asr_model, audio, rate, settings.language, settings.asr_beam_size)
        row = {
            "text": text, "transcript": heard, "wer": word_error_rate([text], [heard], settings.language),
            "seconds": round(seconds, 3), "sound_seconds": round(sound, 3),
            "seconds_per_char": seconds / chars, "speech_seconds_per_char": sound / chars, "audio": str(wav),
        }
        if embedder is not None:
            row["speaker_similarity"] = cosine(embedder.embed(audio, rate), reference_embedding)
            real = held_out.audio[index]
            if real is not None and real.is_file():
                real_audio, real_rate = sf.read(real, dtype="float32", always_2d=True)
                row["real_speaker_similarity"] = cosine(embedder.embed(real_audio.mean(axis=1), real_rate),
                                                        reference_embedding)
        rows.append(row)
        log.info("evaluated %s sentence %d/%d: wer %.2f, %.1f s", checkpoint.name, index + 1, len(held_out.texts),
                 row["wer"], seconds)

    figures = _figures(rows, held_out.texts, settings, synthesis_s, time.monotonic() - started)
    evaluation = Evaluation(
        voice=voice, engine=engine, checkpoint=str(checkpoint), step=step_of(checkpoint), figures=figures,
        thresholds=settings.thresholds(), failures=verdict(figures, settings), sentences=rows,
        sentence_source=held_out.source, speaker_model=getattr(embedder, "name", None),
        reference=str(reference) if reference else None, evaluated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    write_text_atomic(paths.report_file(layout, voice, engine, checkpoint), json.dumps(evaluation.to_dict(), indent=2))
    return evaluation


def _figures(rows: list[dict], texts: list[str], settings: EvaluationSettings, synthesis_s: float,
             wall_s: float) -> dict:
    per_char = [r["seconds_per_char"] for r in rows]
    speech_per_char = [r["speech_seconds_per_char"] for r in rows]
    audio_s = sum(r["seconds"] for r in rows)
    figures = {
        "sentences": len(rows),
        "wer": word_error_rate(texts, [r["transcript"] for r in rows], settings.language),
        "wer_max": max(r["wer"] for r in rows),
        "seconds_per_char_mean": float(np.mean(per_char)),
        "seconds_per_char_max": float(np.max(per_char)),
        "speech_seconds_per_char_min": float(np.min(speech_per_char)),
        "too_long": sum(settings.max_seconds_per_char is not None and v > settings.max_seconds_per_char
                        for v in per_char),
        "too_short": sum(settings.min_speech_seconds_per_char is not None and v < settings.min_speech_seconds_per_char
                         for v in speech_per_char),
        "audio_seconds": audio_s,
        "synthesis_seconds": synthesis_s,
        "real_time_factor": synthesis_s / audio_s if audio_s else float("inf"),
        "evaluation_seconds": wall_s,
    }
    if rows and "speaker_similarity" in rows[0]:
        similarities = [r["speaker_similarity"] for r in rows]
        figures["speaker_similarity"] = float(np.mean(similarities))
        figures["speaker_similarity_min"] = float(np.min(similarities))
        real = [r["real_speaker_similarity"] for r in rows if "real_speaker_similarity" in r]
        if real:
            figures["real_speaker_similarity"] = float(np.mean(real))  # the ceiling: real recordings
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in figures.items()}


def record(layout: DataLayout, evaluation: Evaluation) -> bool:
    """Add the evaluation to the history; promote its checkpoint when it passed and is not older
    than the one promoted now. Returns whether it was promoted."""
    checkpoint = Path(evaluation.checkpoint)
    append_history(layout, evaluation.voice, evaluation.engine, {
        "checkpoint": paths.checkpoint_id(layout, evaluation.voice, evaluation.engine, checkpoint),
        "step": evaluation.step, "evaluated_at": evaluation.evaluated_at, "passed": evaluation.passed,
        "failures": evaluation.failures, "figures": evaluation.figures,
    })
    if not evaluation.passed:
        return False
    current = read_promoted(layout, evaluation.voice, evaluation.engine)
    if current and not _newer(checkpoint, evaluation.step, current):
        log.info("%s passed but %s (newer) stays promoted", checkpoint.name, current["checkpoint"])
        return False
    promote(layout, evaluation.voice, evaluation.engine, checkpoint, evaluation.to_dict())
    return True


def _newer(checkpoint: Path, step: int | None, promoted: dict) -> bool:
    """By step within one run; across runs (a new XTTS run counts from 0) by when it was written."""
    current = Path(promoted["path"])
    if current.parent == checkpoint.parent:
        return (step if step is not None else -1) >= (promoted.get("step") or -1)
    try:
        return checkpoint.stat().st_mtime >= current.stat().st_mtime
    except FileNotFoundError:  # the promoted one is gone
        return True


def evaluate_and_record(layout: DataLayout, voice: str, checkpoint: Path, settings: EvaluationSettings | None = None,
                        **kwargs) -> tuple[Evaluation, bool]:
    evaluation = evaluate_checkpoint(layout, voice, checkpoint, settings, **kwargs)
    return evaluation, record(layout, evaluation)
