"""Does `align` keep a clip with the words actually spoken? 34 cases of NeMo's English test suite.

Each case (`bench/spoken_numbers_en.txt`: a written form and its spoken form, from NeMo text
processing's own tests) becomes a curated clip: Piper says the spoken form (no noise, so the audio
repeats), the transcript gives the written form, as a person transcribing a book would. The clips
go through `tts-assets ingest-transcript` and `tts-assets align` (pocketsphinx), once for each code
tree given, and every clip is counted as kept with the spoken words, kept with other words (a
misreading trained on as if spoken), or rejected (by reason).
From the repository root: python -m bench.bench_spoken_numbers [--code LABEL=DIR ...] [--work DIR] [--out FILE]
(default: this tree only; e.g. --code before=/tmp/tts_before --code after=. for a before/after run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import soundfile as sf  # noqa: E402

from bench._common import REPO, RESULTS, bench_env, environment, read_jsonl, run_measured  # noqa: E402
from tts_assets.text.normalize import spoken_words  # noqa: E402

CASES = Path(__file__).parent / "spoken_numbers_en.txt"
VOICE = "numbers"
# A clip must last 2 s (dataset.min_clip_s): a case of a few words is said inside this sentence.
CARRIER = "The card said {} and nothing more."
PAD_S = 0.25  # silence kept around each spoken sentence


def read_cases(path: Path = CASES) -> list[dict]:
    cases = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, pair = line.split("\t")
        written, spoken = pair.split("~")
        if len(written.split()) < 5:
            written, spoken = CARRIER.format(written), CARRIER.format(spoken)
        cases.append({"id": f"{len(cases) + 1:02d}", "kind": kind, "written": written, "spoken": spoken})
    return cases


def write_clips(cases: list[dict], folder: Path) -> Path:
    """Piper says each spoken form into `<id>.wav`; the transcripts JSONL gives the written forms.
    Clips of the same cases are reused (Piper without noise says a text the same way each time)."""
    from tts_assets.sample_book import PIPER_RATE, synthesize

    transcripts = folder / "transcripts.jsonl"
    lines = "".join(json.dumps({"audio_file": f"{c['id']}.wav", "text": c["written"], "spoken": c["spoken"]}) + "\n"
                    for c in cases)
    if transcripts.is_file() and transcripts.read_text() == lines:
        return transcripts
    folder.mkdir(parents=True, exist_ok=True)
    audio, spans = synthesize([case["spoken"] for case in cases])
    pad = int(PAD_S * PIPER_RATE)
    for case, (start, end, _) in zip(cases, spans):
        clip = audio[max(0, int(start * PIPER_RATE) - pad): int(end * PIPER_RATE) + pad]
        sf.write(folder / f"{case['id']}.wav", clip, PIPER_RATE)
    transcripts.write_text(lines)
    return transcripts


def run_tree(code: Path, clips: Path, transcripts: Path, root: Path, logs: Path) -> dict:
    """ingest-transcript + align with the code of `code` (on PYTHONPATH, and the working folder, which
    `python -m`/`-c` and Dagster's run processes put first on sys.path); the per-clip outcome."""
    shutil.rmtree(root, ignore_errors=True)
    env = bench_env(root / "dagster_home", PYTHONPATH=str(code.resolve()))
    cli = [sys.executable, "-c", "from tts_assets.cli import main; main()"]
    data_root = ["--data-root", str(root / "data")]
    timings = {
        "ingest": run_measured([*cli, "ingest-transcript", str(clips), str(transcripts), VOICE, *data_root],
                               env, logs / "ingest.log", cwd=code),
        "align": run_measured([*cli, "align", VOICE, *data_root], env, logs / "align.log", cwd=code),
    }
    dataset = root / "data" / "datasets" / VOICE
    outcome = {}
    for row in read_jsonl(dataset / "train_aligned.jsonl"):
        outcome[Path(row["source"]).stem] = {"kept": row["text"], "readings": row.get("normalization_candidates")}
    for name in ("rejections.jsonl", "rejections_aligned.jsonl"):
        for row in read_jsonl(dataset / name) if (dataset / name).is_file() else []:
            outcome[Path(row["source"]).stem] = {"rejected": row["reason"], "detail": row.get("detail")}
    return {"timings": timings, "outcome": outcome}


def score(cases: list[dict], outcome: dict) -> dict:
    counts, reasons, per_case = Counter(), Counter(), []
    for case in cases:
        got = outcome.get(case["id"], {"rejected": "missing"})
        if "kept" in got:
            verdict = "spoken" if spoken_words(got["kept"]) == spoken_words(case["spoken"]) else "other_words"
        else:
            verdict = "rejected"
            reasons[got["rejected"]] += 1
        counts[verdict] += 1
        per_case.append({**case, "verdict": verdict, **got})
    return {"kept_with_spoken_words": counts["spoken"], "kept_with_other_words": counts["other_words"],
            "rejected": counts["rejected"], "rejected_by_reason": dict(reasons.most_common()), "cases": per_case}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", action="append", default=[], metavar="LABEL=DIR",
                        help="a code tree to run (repeatable); default: this repository")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench/spoken_numbers"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_spoken_numbers.json")
    args = parser.parse_args()
    trees = [tuple(spec.split("=", 1)) for spec in args.code] or [("this tree", str(REPO))]
    cases = read_cases()
    started = time.perf_counter()
    transcripts = write_clips(cases, args.work / "clips")
    print(f"{len(cases)} clips ready in {time.perf_counter() - started:.1f} s", flush=True)
    results = {"environment": environment(), "cases_file": str(CASES.relative_to(REPO)), "trees": {}}
    for label, code in trees:
        slug = "".join(ch if ch.isalnum() else "_" for ch in label)
        run = run_tree(Path(code), args.work / "clips", transcripts, args.work / slug, args.work / slug / "logs")
        results["trees"][label] = {"code": code, "timings": run["timings"], **score(cases, run["outcome"])}
        print(f"{label}: done", flush=True)

    print(f"\n## {len(cases)} NeMo English test cases spoken by Piper, through ingest-transcript + align\n")
    print("| code | kept, words spoken | kept, other words | rejected (reasons) |\n|---|---|---|---|")
    for label, r in results["trees"].items():
        why = ", ".join(f"{reason} {n}" for reason, n in r["rejected_by_reason"].items())
        print(f"| {label} | {r['kept_with_spoken_words']} | {r['kept_with_other_words']} | {r['rejected']} ({why}) |")
    for label, r in results["trees"].items():
        print(f"\n{label}: clips not kept with the spoken words")
        for case in r["cases"]:
            if case["verdict"] != "spoken":
                print(f"  {case['id']} {case['kind']}: {case['written']!r} -> "
                      f"{case.get('kept') or case['rejected'] + ': ' + str(case.get('detail'))!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
