"""What the GPU benchmarks (`tts_assets.qwen3.bench`, `tts_assets.xtts.bench`) share."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def measure_each(names: list[str], measure: Callable[[str], dict], out: Path | None) -> list[dict]:
    """`measure` each name, printing each result as a JSON line when it comes and rewriting `out`
    with all so far, so that a run cut short by a time limit keeps the finished ones."""
    results = []
    for name in names:
        results.append(measure(name))
        print(json.dumps(results[-1]), flush=True)
        if out:
            out.write_text(json.dumps(results, indent=2) + "\n")
    return results
