"""The aligned dataset: normalized text, word times, refined boundaries, quality filters, split.

Reads a voice's `train_manifest.jsonl`; every clip there ends in exactly one of
`train_aligned.jsonl` and `rejections_aligned.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tts_assets.aligners.base import ALIGN_RATE, Aligner
from tts_assets.aligners.choice import AlignerChain, align_language, as_chain, make_aligner
from tts_assets.atomic import write_text_atomic
from tts_assets.audio.cut import CutRequest
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, remove_unreferenced, temporary_files, write_jsonl, write_parquet
from tts_assets.manifest.schema import Reason
from tts_assets.quality.dnsmos import COLUMNS, low_quality
from tts_assets.quality.dnsmos_report import dnsmos_report
from tts_assets.quality.measures import measure, median_bandwidth, narrow_band
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.decisions import ReviewDecisions
from tts_assets.dataset.finishing import Candidate, finishing_process, rejection
from tts_assets.dataset.sources import speakable_in
from tts_assets.dataset.voice_language import with_voice_language
from tts_assets.segments.split_aligned import split_candidate
from tts_assets.text.normalize import spoken_readings, spoken_words, unspoken

log = logging.getLogger(__name__)

NARROW_VOICE_HZ = 5000.0  # a band edge under this is a telephone's (8 kHz audio ends at 4 kHz)


def split_of(row: dict, val_fraction: float) -> str:
    """train or val from a hash of the clip's identity: stable whatever other clips come and go."""
    key = f"{row['book']}/{'+'.join(row['segment_ids'])}"
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "val" if value < val_fraction else "train"


def _align_clip(row, dataset_dir: Path, aligner: Aligner | AlignerChain, settings: DatasetSettings, layout, voice):
    """A candidate with refined cut points (one per part for a clip split at its pauses), or a rejection."""
    if not speakable_in(row["text"], row["duration"]):  # before normalization and the aligner
        return rejection(row, Reason.LENGTH_MISMATCH,
                          f"{len(row['text']):,} characters cannot be spoken in {row['duration']:.2f} s")
    try:
        readings = spoken_readings(row["text"], align_language(settings.align), settings.align.max_readings)
    except (NotImplementedError, ValueError, OverflowError) as exc:  # num2words on a number it cannot spell
        return rejection(row, Reason.UNSPOKEN_TEXT, f"cannot spell out the text: {exc}")
    # A reading that keeps digits or symbols is not what the reader said (the aligner would skip them).
    spoken = [reading for reading in readings if not unspoken(reading)]
    if not spoken:
        return rejection(row, Reason.UNSPOKEN_TEXT, f"left after normalization: {' '.join(unspoken(readings[0]))}")
    spoken = [reading for reading in spoken if spoken_words(reading)]
    if not spoken:
        return rejection(row, Reason.EMPTY_TEXT, f"no speakable words in {readings[0]!r}")
    try:
        audio, rate = sf.read(dataset_dir / row["audio_file"], dtype="float32")
    except sf.SoundFileError as exc:  # a missing or damaged clip spoils only itself
        return rejection(row, Reason.UNREADABLE_AUDIO, str(exc))
    spoiled = _signal_rejection(audio, rate, settings)
    if spoiled:
        return rejection(row, *spoiled)
    audio16 = soxr.resample(audio, rate, ALIGN_RATE) if rate != ALIGN_RATE else audio
    # The audio chooses the reading: the one the aligner scores best (the first, NeMo's
    # deterministic one, on a tie); a reading it cannot align at all just loses. A clip no
    # reading of which aligns well goes to the next backend (aligners/choice.py).
    best, tried = as_chain(aligner).align(audio16, [(r, spoken_words(r)) for r in spoken],
                                          settings.quality.min_align_score)
    if best is None:
        return rejection(row, Reason.ALIGN_FAILED, tried)
    if best.score < settings.quality.min_align_score:
        return rejection(row, Reason.LOW_ALIGN_SCORE, tried)
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
    candidate = Candidate(row, text, aligned, score, CutRequest(start, end, target, *words_span), len(spoken),
                           best.aligner, best.model)
    if aligned[-1].end - aligned[0].start <= settings.merge.max_clip_s:
        return candidate
    # A long curated clip: one candidate per part, each re-cut and judged on its own.
    parts = split_candidate(candidate, settings.merge, pad, row["duration"] if row["start"] is None else None)
    if parts is None:
        return rejection(row, Reason.TOO_LONG, f"{aligned[-1].end - aligned[0].start:.2f} s of words > "
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


def _voice_bandwidth(kept: list[dict]) -> float | None:
    """The voice's band edge; a voice recorded narrower than a wideband phone call is said so."""
    median = median_bandwidth(kept)
    if median is None:
        return None
    if median < NARROW_VOICE_HZ:
        log.warning("the voice's clips end at %.1f kHz (median): telephone band; a voice trained on them will "
                    "sound so", median / 1000)
    return round(median, 1)


def _drop(kept: list[dict], originals: list[dict], dropped: dict[int, str], reason: Reason, rejections: list[dict],
          dataset_dir: Path, review: ReviewDecisions) -> tuple[list[dict], list[dict]]:
    """Kept rows (and their train_manifest rows) without the dropped ones, which become rejections;
    a clip a listener restored from `reason` stays."""
    dropped = {index: detail for index, detail in dropped.items() if not review.skips(originals[index], reason)}
    for index, detail in dropped.items():
        rejections.append(rejection(originals[index], reason, detail))
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
    review = ReviewDecisions.read(layout.review_decisions(voice))
    to_align, reviewed_out = review.apply(rows)
    to_align.sort(key=lambda row: (row["source"], row["start"] or 0.0))  # the order the finishing cuts in
    rejections: list[dict] = [rejection(row, Reason.REVIEW_REJECTED, detail) for row, detail in reviewed_out]
    floor = settings.quality.min_dnsmos_ovrl
    with finishing_process(dataset_dir, settings, review,
                           layout.aligned_dnsmos_cache(voice) if floor is not None else None) as finishing:
        for number, row in enumerate(to_align, start=1):
            outcome = _align_clip(row, dataset_dir, aligner, review.settings_for(row, settings), layout, voice)
            if isinstance(outcome, dict):
                rejections.append(outcome)
            else:
                finishing.put(sorted(outcome, key=lambda c: c.request.start) if isinstance(outcome, list) else [outcome])
            if number % 100 == 0:
                log.info("%s: aligned %d of %d clips", voice, number, len(to_align))
        finished, scores = finishing.result()
    kept, originals = finished.kept, finished.originals
    rejections += finished.rejections
    for row in kept:
        row.update(scores[row["audio_file"]].columns() if scores is not None else dict.fromkeys(COLUMNS))
    if scores is not None:
        log.info("DNSMOS: %d clips scored, %d from the cache", finished.dnsmos_scored, len(kept) - finished.dnsmos_scored)
    # The DNSMOS judgement before the rate statistics (noise spoils them): against the voice's median.
    low = low_quality(kept, floor, settings.quality.dnsmos_below_median) if floor is not None else {}
    dnsmos = dnsmos_report(kept, floor, layout.aligned_dnsmos_png(voice))
    kept, originals = _drop(kept, originals, low, Reason.LOW_QUALITY, rejections, dataset_dir, review)
    below = settings.quality.bandwidth_below_median
    narrow = narrow_band(kept, below) if below is not None else {}
    kept, originals = _drop(kept, originals, narrow, Reason.LOW_BANDWIDTH, rejections, dataset_dir, review)
    outliers = _speaking_rate_outliers(kept, settings.quality.rate_iqr_k)
    kept, originals = _drop(kept, originals, outliers, Reason.SPEAKING_RATE_OUTLIER, rejections, dataset_dir, review)
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
        "median_bandwidth_hz": _voice_bandwidth(kept),
    }
    write_text_atomic(layout.aligned_summary(voice), json.dumps(summary, indent=2) + "\n")
    return summary

