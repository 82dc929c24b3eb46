"""The aligned dataset: normalized text, word times, refined boundaries, quality filters, split.

Reads a voice's `train_manifest.jsonl`; every clip there ends in exactly one of
`train_aligned.jsonl` and `rejections_aligned.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tts_assets.aligners.base import ALIGN_RATE, AlignedWord, Aligner
from tts_assets.aligners.choice import AlignerChain, align_language, as_chain, make_aligner
from tts_assets.atomic import write_text_atomic, write_wav_atomic
from tts_assets.audio.cut import CutRequest, cut_clips
from tts_assets.errors import UnreadableAudioError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, remove_unreferenced, temporary_files, write_jsonl, write_parquet
from tts_assets.manifest.schema import Reason
from tts_assets.quality.dnsmos import score_rows
from tts_assets.quality.dnsmos_report import dnsmos_report
from tts_assets.quality.measures import measure, normalize_loudness
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.decisions import ReviewDecisions
from tts_assets.dataset.sources import speakable_in
from tts_assets.dataset.voice_language import with_voice_language
from tts_assets.segments.split_aligned import split_candidate
from tts_assets.text.normalize import spoken_readings, spoken_words, unspoken

log = logging.getLogger(__name__)


def split_of(row: dict, val_fraction: float) -> str:
    """train or val from a hash of the clip's identity: stable whatever other clips come and go."""
    key = f"{row['book']}/{'+'.join(row['segment_ids'])}"
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "val" if value < val_fraction else "train"


@dataclass
class _Candidate:
    row: dict
    text: str
    words: list[AlignedWord]  # relative to the original clip
    score: float
    request: CutRequest
    readings: int  # how many readings of the written text were aligned for the audio to choose
    aligner: str  # the backend that aligned it, and its model
    model: str


def _rejection(row: dict, reason: Reason, detail: str) -> dict:
    return {
        "source": row["source"], "start": row["start"], "end": row["end"], "text": row["text"],
        "reason": reason.value, "detail": detail, "book": row["book"], "line": None,
        "segment_ids": row["segment_ids"], "audio_file": row["audio_file"],
        "part": row.get("part"), "parts": row.get("parts"),
    }


def _align_clip(row, dataset_dir: Path, aligner: Aligner | AlignerChain, settings: DatasetSettings, layout, voice):
    """A candidate with refined cut points (one per part for a clip split at its pauses), or a rejection."""
    if not speakable_in(row["text"], row["duration"]):  # before normalization and the aligner
        return _rejection(row, Reason.LENGTH_MISMATCH,
                          f"{len(row['text']):,} characters cannot be spoken in {row['duration']:.2f} s")
    try:
        readings = spoken_readings(row["text"], align_language(settings.align), settings.align.max_readings)
    except (NotImplementedError, ValueError, OverflowError) as exc:  # num2words on a number it cannot spell
        return _rejection(row, Reason.UNSPOKEN_TEXT, f"cannot spell out the text: {exc}")
    # A reading that keeps digits or symbols is not what the reader said (the aligner would skip them).
    spoken = [reading for reading in readings if not unspoken(reading)]
    if not spoken:
        return _rejection(row, Reason.UNSPOKEN_TEXT, f"left after normalization: {' '.join(unspoken(readings[0]))}")
    spoken = [reading for reading in spoken if spoken_words(reading)]
    if not spoken:
        return _rejection(row, Reason.EMPTY_TEXT, f"no speakable words in {readings[0]!r}")
    try:
        audio, rate = sf.read(dataset_dir / row["audio_file"], dtype="float32")
    except sf.SoundFileError as exc:  # a missing or damaged clip spoils only itself
        return _rejection(row, Reason.UNREADABLE_AUDIO, str(exc))
    spoiled = _signal_rejection(audio, rate, settings)
    if spoiled:
        return _rejection(row, *spoiled)
    audio16 = soxr.resample(audio, rate, ALIGN_RATE) if rate != ALIGN_RATE else audio
    # The audio chooses the reading: the one the aligner scores best (the first, NeMo's
    # deterministic one, on a tie); a reading it cannot align at all just loses. A clip no
    # reading of which aligns well goes to the next backend (aligners/choice.py).
    best, tried = as_chain(aligner).align(audio16, [(r, spoken_words(r)) for r in spoken],
                                          settings.quality.min_align_score)
    if best is None:
        return _rejection(row, Reason.ALIGN_FAILED, tried)
    if best.score < settings.quality.min_align_score:
        return _rejection(row, Reason.LOW_ALIGN_SCORE, tried)
    text, aligned, score = best.reading, best.words, best.score
    pad = settings.align.pad_s
    offset = row["start"] or 0.0
    # Audiobook clips are re-cut from the book, so padding may reach past the first cut (which
    # may have clipped a word's tail); a curated clip is its own source and bounds the padding.
    start = max(0.0, offset + aligned[0].start - pad)
    end = offset + aligned[-1].end + pad
    if row["start"] is None:
        end = min(end, row["duration"])
    target = layout.aligned_wavs_dir(voice, row["book"]) / Path(row["audio_file"]).name
    words_span = (offset + aligned[0].start, offset + aligned[-1].end)
    candidate = _Candidate(row, text, aligned, score, CutRequest(start, end, target, *words_span), len(spoken),
                           best.aligner, best.model)
    if aligned[-1].end - aligned[0].start <= settings.merge.max_clip_s:
        return candidate
    # A long curated clip: one candidate per part, each re-cut and judged on its own.
    parts = split_candidate(candidate, settings.merge, pad, row["duration"] if row["start"] is None else None)
    if parts is None:
        return _rejection(row, Reason.TOO_LONG, f"{aligned[-1].end - aligned[0].start:.2f} s of words > "
                          f"{settings.merge.max_clip_s} s and no pause of {settings.merge.min_split_pause_s} s "
                          "splits them into parts that fit")
    return parts


def _signal_rejection(audio: np.ndarray, rate: int, settings: DatasetSettings):
    """Clipping and noise, judged on the clip as cut, before alignment (which they would spoil)."""
    q = settings.quality
    measures = measure(audio, rate)
    if measures.clipping > q.max_clipping:
        return Reason.CLIPPING, f"{measures.clipping:.2%} of samples at full scale > {q.max_clipping:.2%}"
    if measures.snr_db < q.min_snr_db:
        return Reason.LOW_SNR, f"SNR {measures.snr_db:.1f} dB < {q.min_snr_db} dB"
    return None


def _trimmed_rejection(words, audio, rate, settings: DatasetSettings, chars: int):
    """Bounds, silence and text/audio length, judged on the re-cut clip; (reason, detail) or None."""
    q = settings.quality
    rules = settings.merge
    duration = len(audio) / rate
    if words[0].start < 0 or words[-1].end > duration + 1e-3:
        return Reason.CUT_INSIDE_WORD, f"words span {words[0].start:.2f}–{words[-1].end:.2f} s of {duration:.2f} s"
    if duration < rules.min_clip_s:
        return Reason.TOO_SHORT, f"{duration:.2f} s after trimming < {rules.min_clip_s} s"
    if duration > rules.max_clip_s + 2 * settings.align.pad_s:
        return Reason.TOO_LONG, f"{duration:.2f} s > {rules.max_clip_s} s + 2 × {settings.align.pad_s} s padding"
    silence = measure(audio, rate).silence
    if silence > q.max_silence:
        return Reason.TOO_MUCH_SILENCE, f"{silence:.0%} silent > {q.max_silence:.0%}"
    rate_cps = chars / duration
    if not q.min_chars_per_s <= rate_cps <= q.max_chars_per_s:
        return Reason.LENGTH_MISMATCH, (
            f"{rate_cps:.1f} characters/s outside {q.min_chars_per_s}–{q.max_chars_per_s}"
        )
    return None


def _speaking_rate_outliers(rows: list[dict], k: float) -> dict[int, str]:
    """Rows whose seconds per character lie beyond k × IQR (Emilia's rule), with the detail."""
    if len(rows) < 4:
        return {}
    per_char = np.array([r["seconds_per_char"] for r in rows])
    q1, q3 = np.percentile(per_char, [25, 75])
    low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    return {
        i: f"{v:.3f} s/char outside {low:.3f}–{high:.3f} ({k} × IQR)"
        for i, v in enumerate(per_char)
        if not low <= v <= high
    }


def _drop(kept: list[dict], originals: list[dict], dropped: dict[int, str], reason: Reason, rejections: list[dict],
          dataset_dir: Path) -> tuple[list[dict], list[dict]]:
    """Kept rows (and their train_manifest rows) without the dropped ones, which become rejections."""
    for index, detail in dropped.items():
        rejections.append(_rejection(originals[index], reason, detail))
        (dataset_dir / kept[index]["audio_file"]).unlink(missing_ok=True)
    return ([r for i, r in enumerate(kept) if i not in dropped],
            [r for i, r in enumerate(originals) if i not in dropped])


def align_voice_dataset(
    layout: DataLayout, voice: str, settings: DatasetSettings, aligner: Aligner | AlignerChain | None = None
) -> dict:
    """Write `train_aligned.jsonl` (+ Parquet), `rejections_aligned.jsonl` and `summary_aligned.json`."""
    dataset_dir = layout.dataset_dir(voice)
    leftovers = temporary_files(dataset_dir / "wavs_aligned")
    rows = list(read_jsonl(layout.train_manifest(voice)))
    settings = with_voice_language(layout, voice, settings)
    aligner = as_chain(aligner or make_aligner(settings.align))
    fmt = settings.clips
    review = ReviewDecisions.read(layout.review_decisions(voice))
    to_align, reviewed_out = review.apply(rows)
    rejections: list[dict] = [_rejection(row, Reason.REVIEW_REJECTED, detail) for row, detail in reviewed_out]
    by_source: dict[str, list[_Candidate]] = defaultdict(list)
    for number, row in enumerate(to_align, start=1):
        outcome = _align_clip(row, dataset_dir, aligner, review.settings_for(row, settings), layout, voice)
        if isinstance(outcome, dict):
            rejections.append(outcome)
        else:
            by_source[row["source"]] += outcome if isinstance(outcome, list) else [outcome]
        if number % 100 == 0:
            log.info("%s: aligned %d of %d clips", voice, number, len(to_align))

    kept: list[dict] = []
    originals: list[dict] = []  # the train_manifest row of each kept row
    for source, candidates in by_source.items():
        try:
            results = cut_clips(Path(source), [c.request for c in candidates], fmt.sample_rate, fmt.subtype)
        except UnreadableAudioError as exc:
            rejections += [_rejection(c.row, Reason.UNREADABLE_AUDIO, str(exc)) for c in candidates]
            continue
        for candidate, result in zip(candidates, results):
            row = candidate.row
            if result.damaged:
                a, b = result.damaged
                rejections.append(_rejection(row, Reason.DAMAGED_AUDIO, f"the re-cut reaches the damaged "
                                                                         f"audio from {a:.2f} s to {b:.2f} s"))
                continue
            if result.samples == 0:
                rejections.append(_rejection(row, Reason.BEYOND_AUDIO_END, "re-cut past the end of the source"))
                continue
            shift = (row["start"] or 0.0) - result.start
            words = [
                AlignedWord(w.word, round(w.start + shift, 3), round(w.end + shift, 3), w.score)
                for w in candidate.words
            ]
            path = result.request.out_path
            audio, rate = sf.read(path, dtype="float32")
            chars = sum(len(w.word) for w in words)
            failed = _trimmed_rejection(words, audio, rate, review.settings_for(row, settings), chars)
            if failed:
                rejections.append(_rejection(row, *failed))
                path.unlink(missing_ok=True)
                continue
            if settings.quality.loudness_lufs is not None:
                audio = normalize_loudness(audio, rate, settings.quality.loudness_lufs)
                write_wav_atomic(path, audio, rate, fmt.subtype)
            originals.append(row)
            kept.append({
                **row,
                "audio_file": path.relative_to(dataset_dir).as_posix(),
                "source_clip": row["audio_file"],
                "text": candidate.text,
                "text_original": row["text"],
                "duration": round(len(audio) / rate, 4),
                "start": round(result.start, 3) if row["start"] is not None else None,
                "end": round(result.end, 3) if row["start"] is not None else None,
                "sample_rate": rate,
                "words": [w.to_dict() for w in words],
                "align_score": candidate.score,
                "normalization_candidates": candidate.readings,
                "aligner": candidate.aligner,
                "align_model": candidate.model,
                "seconds_per_char": round((words[-1].end - words[0].start) / max(chars, 1), 4),
                "part": row.get("part"),  # k of `parts` when a long clip was split; else None
                "parts": row.get("parts"),
                **{f"quality_{k}": v for k, v in measure(audio, rate).to_dict().items()},
            })

    # DNSMOS of every kept clip, batched over the voice, before the rate statistics (noise spoils them).
    floor = settings.quality.min_dnsmos_ovrl
    low = score_rows(kept, dataset_dir, floor, layout.aligned_dnsmos_cache(voice), settings.quality.dnsmos_below_median)
    low = {index: detail for index, detail in low.items() if not review.skips(originals[index], Reason.LOW_QUALITY)}
    dnsmos = dnsmos_report(kept, floor, layout.aligned_dnsmos_png(voice))
    kept, originals = _drop(kept, originals, low, Reason.LOW_QUALITY, rejections, dataset_dir)
    outliers = {index: detail for index, detail in _speaking_rate_outliers(kept, settings.quality.rate_iqr_k).items()
                if not review.skips(originals[index], Reason.SPEAKING_RATE_OUTLIER)}
    kept, originals = _drop(kept, originals, outliers, Reason.SPEAKING_RATE_OUTLIER, rejections, dataset_dir)
    for row in kept:
        row["split"] = split_of(row, settings.quality.val_fraction)
    kept.sort(key=lambda r: r["audio_file"])

    write_jsonl(layout.aligned_manifest(voice), kept)
    write_parquet(layout.aligned_parquet(voice), kept)
    write_jsonl(layout.aligned_rejections(voice), rejections)
    remove_unreferenced(dataset_dir / "wavs_aligned", {dataset_dir / r["audio_file"] for r in kept}, leftovers)
    summary = {
        "voice": voice,
        "aligner": aligner.name,
        "align_model": aligner.model,
        "language": settings.align.language,
        "clips_by_aligner": dict(Counter(r["aligner"] for r in kept).most_common()),
        "clips_in": len(rows),
        "clips_kept": len(kept),
        "clips_rejected": len(rejections),
        "train": sum(r["split"] == "train" for r in kept),
        "val": sum(r["split"] == "val" for r in kept),
        "hours_kept": round(sum(r["duration"] for r in kept) / 3600, 4),
        "mean_align_score": round(float(np.mean([r["align_score"] for r in kept])), 4) if kept else 0.0,
        "rejections_by_reason": dict(Counter(r["reason"] for r in rejections).most_common()),
        "review_decisions_read": review.lines,  # the review page's later decisions are not applied yet
        "dnsmos": dnsmos,
    }
    write_text_atomic(layout.aligned_summary(voice), json.dumps(summary, indent=2) + "\n")
    return summary

