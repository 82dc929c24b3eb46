"""Checks of the XTTS export, checkpoint and samples, as (passed, description)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.xtts import paths
from tts_assets.xtts.config import COQUI_RATE, OUTPUT_RATE


def export_accounting(layout: DataLayout, voice: str) -> tuple[bool, str]:
    """Every clip of train_aligned.jsonl is exported or rejected, exactly once; the metadata files
    hold exactly the exported clips of their split."""
    clips_in = [r["audio_file"] for r in read_jsonl(layout.aligned_manifest(voice))]
    kept = list(read_jsonl(paths.export_manifest(layout, voice)))
    rejected = [r["audio_file"] for r in read_jsonl(paths.export_rejections(layout, voice))]
    sources = [r["source_clip"] for r in kept]
    both = set(sources) & set(rejected)
    missing = set(clips_in) - set(sources) - set(rejected)
    passed = not both and not missing and len(sources) + len(rejected) == len(clips_in)
    detail = f"{len(sources)} exported + {len(rejected)} rejected = {len(sources) + len(rejected)} of {len(clips_in)} clips"
    for split, csv_path in (("train", paths.metadata_train(layout, voice)), ("eval", paths.metadata_eval(layout, voice))):
        listed = _coqui_rows(csv_path)
        expected = {(r["audio_file"], r["text"]) for r in kept if r["split"] == split}
        if {(row["audio_file"], row["text"]) for row in listed} != expected or len(listed) != len(expected):
            passed = False
            detail += f"; {csv_path.name} does not match the exported {split} clips"
    if both:
        detail += f"; {len(both)} both exported and rejected"
    if missing:
        detail += f"; {len(missing)} missing (e.g. {sorted(missing)[:3]})"
    return passed, detail


def _coqui_rows(csv_path) -> list[dict]:
    """The metadata as coqui's own `coqui` formatter reads it (paths made relative again)."""
    from TTS.tts.datasets.formatters import coqui

    if sum(1 for line in open(csv_path, encoding="utf-8") if line.strip()) < 2:
        return []  # coqui's formatter fails on a header-only file
    root = csv_path.parent
    return [{**item, "audio_file": Path(item["audio_file"]).relative_to(root).as_posix()}
            for item in coqui(str(root), csv_path.name)]


def export_clips_valid(layout: DataLayout, voice: str) -> tuple[bool, str]:
    """Each exported clip is a mono 22.05 kHz WAV within the bounds coqui accepts."""
    summary = json.loads(paths.export_summary(layout, voice).read_text())
    low, high, max_tokens = summary["min_seconds"] * COQUI_RATE, summary["max_samples"], summary["max_text_tokens"]
    rows = list(read_jsonl(paths.export_manifest(layout, voice)))
    problems = []
    for row in rows:
        path = paths.export_dir(layout, voice) / row["audio_file"]
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            problems.append(f"{row['audio_file']}: {exc}")
            continue
        if info.samplerate != COQUI_RATE or info.channels != 1:
            problems.append(f"{row['audio_file']}: {info.samplerate} Hz, {info.channels} channels")
        elif info.frames != row["samples"] or not low <= info.frames <= high:
            problems.append(f"{row['audio_file']}: {info.frames} samples (row says {row['samples']})")
        elif row["tokens"] > max_tokens:
            problems.append(f"{row['audio_file']}: {row['tokens']} tokens > {max_tokens}")
    return not problems, f"{len(rows) - len(problems)} of {len(rows)} clips valid" + (
        f"; e.g. {problems[:3]}" if problems else "")


def checkpoint_sound(layout: DataLayout, voice: str) -> tuple[bool, str]:
    """The latest training finished, its checkpoint files exist and its losses are finite."""
    path = paths.latest_training(layout, voice)
    if not path.is_file():
        return False, f"{path} missing"
    summary = json.loads(path.read_text())
    problems = []
    if summary["status"] != "done":
        problems.append(f"status {summary['status']}")
    for key in ("last_checkpoint", "best_checkpoint"):
        if summary.get(key) and not os.path.isfile(summary[key]):
            problems.append(f"{key} {summary[key]} missing")
    if not summary.get("last_checkpoint"):
        problems.append("no checkpoint")
    losses = [summary.get("train_loss"), summary.get("eval_loss")] + [
        row.get("loss") for row in summary.get("losses", [])]
    if any(v is not None and not math.isfinite(v) for v in losses):
        problems.append("a loss is not finite")
    detail = f"step {summary['step']}, epoch {summary['epoch']}/{summary['epochs']}"
    if summary.get("total_optimizer_steps"):
        detail += f", optimizer step {summary.get('optimizer_steps')}/{summary['total_optimizer_steps']}"
    detail += f", train loss {summary.get('train_loss')}"
    detail += f", eval loss {summary.get('eval_loss')}" if summary.get("evaluated", True) else ", no evaluation"
    return not problems, detail + (f"; {', '.join(problems)}" if problems else "")


def samples_audible(layout: DataLayout, voice: str, min_rms: float = 1e-4) -> tuple[bool, str]:
    """Every sample is finite 24 kHz audio, not empty and not silent."""
    path = paths.latest_samples(layout, voice)
    if not path.is_file():
        return False, f"{path} missing"
    record = json.loads(path.read_text())
    folder = Path(record["folder"])
    problems = []
    for row in record["samples"]:
        audio, rate = sf.read(folder / row["file"], dtype="float32")
        rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
        if rate != OUTPUT_RATE or not len(audio) or not np.isfinite(audio).all() or rms < min_rms:
            problems.append(f"{row['file']}: {rate} Hz, {len(audio)} samples, rms {rms:.5f}")
    return not problems, f"{len(record['samples']) - len(problems)} of {len(record['samples'])} samples audible " \
        f"(checkpoint step {record['step']})" + (f"; {problems[:3]}" if problems else "")
