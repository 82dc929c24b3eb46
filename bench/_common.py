"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MINUTES_PER_REPEAT = 2.7  # make_sample_audiobook reads about this much per repeat


@dataclass(frozen=True)
class Book:
    audio: Path
    truth: Path
    duration: float  # seconds


def sample_book(work: Path, minutes: float) -> Book:
    """A Piper sample audiobook of at least `minutes`, cached in `work` by repeat count."""
    repeat = max(1, math.ceil(minutes / MINUTES_PER_REPEAT))
    name = f"sample_r{repeat}"
    audio, truth, meta = work / f"{name}.m4b", work / f"{name}.truth.jsonl", work / f"{name}.meta.json"
    if audio.is_file() and truth.is_file() and meta.is_file():
        duration = json.loads(meta.read_text())["duration"]
        print(f"reusing {audio} ({duration / 60:.1f} min)", flush=True)
        return Book(audio, truth, duration)
    from tts_assets.sample_book import make_sample_audiobook

    print(f"synthesizing {audio} (repeat={repeat}, Piper; slow) ...", flush=True)
    started = time.perf_counter()
    book = make_sample_audiobook(work, repeat=repeat, name=name)
    meta.write_text(json.dumps({"duration": book.duration, "repeat": repeat}) + "\n")
    print(f"  {book.duration / 60:.1f} min in {time.perf_counter() - started:.0f} s", flush=True)
    return Book(book.audio, book.truth, book.duration)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def tts_assets_cmd() -> str:
    """The project's CLI next to this interpreter (the venv), else on PATH."""
    local = Path(sys.executable).parent / "tts-assets"
    found = str(local) if local.exists() else shutil.which("tts-assets")
    if not found:
        raise SystemExit("tts-assets not found; run with the project's venv python")
    return found


def bench_env(dagster_home: Path, **extra: str) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "HF_HUB_OFFLINE": "1", **extra}
    # The data root comes from --data-root; never let a caller's setting leak in.
    env.pop("TTS_ASSETS_DATA_ROOT", None)
    if "TTS_ASSETS_SETTINGS" not in extra:
        env.pop("TTS_ASSETS_SETTINGS", None)
    return env


_RSS_WRAPPER = """
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(json.dumps({"rc": rc, "peak_kb": peak_kb}))
sys.exit(rc)
"""


def run_measured(cmd: list[str], env: dict, log: Path, cwd: Path | None = None) -> dict:
    """Run `cmd`, returning wall seconds, the child's peak RSS (MB) and, with `/usr/bin/time`, its
    CPU seconds (user + system, its own waited-for processes included); stdout+stderr go to `log`.

    Peak RSS comes from `/usr/bin/time -v` when present, else from getrusage(RUSAGE_CHILDREN)
    in a fresh Python wrapper process (so earlier children of this script do not count).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("r", suffix=".rss", delete=False) as handle:
        rss_file = Path(handle.name)
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        full = [str(gnu_time), "-v", "-o", str(rss_file), *cmd]
    else:
        full = [sys.executable, "-c", _RSS_WRAPPER, str(rss_file), *cmd]
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(full, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    wall = time.perf_counter() - started
    text = rss_file.read_text()
    rss_file.unlink(missing_ok=True)
    if gnu_time.exists():
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        peak_kb = int(match.group(1)) if match else None
        cpu = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
    else:
        peak_kb = json.loads(text)["peak_kb"] if text else None
        cpu = []
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"command failed (rc {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
            "cpu_s": round(sum(cpu), 2) if len(cpu) == 2 else None}


def cpu_seconds() -> float:
    """CPU seconds of this process and of the processes it has waited for (the build's finishing
    and measuring processes), user + system."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def normalize(text: str) -> str:
    """Lowercase, punctuation stripped (apostrophes inside words kept), single spaces."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return round(jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>"), 4)


def environment() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def measure_each(names: list[str], measure: Callable[[str], dict], out: Path | None) -> list[dict]:
    """`measure` each name, printing each result as a JSON line when it comes and rewriting `out`
    with all so far, so that a run cut short by a time limit keeps the finished ones (the GPU
    benches `bench.qwen3_step` and `bench.xtts_step`)."""
    results = []
    for name in names:
        results.append(measure(name))
        print(json.dumps(results[-1]), flush=True)
        if out:
            out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def write_results(out: Path, data: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nresults written to {out}")
