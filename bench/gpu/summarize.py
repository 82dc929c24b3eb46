"""Markdown tables from the GPU benches' JSON files (bench/gpu/run_checks.sh prints them last):
    python -m bench.gpu.summarize FILE.json..."""

import json
import sys
from pathlib import Path

COLUMNS = {
    "variant": ["size", "variant", "weights", "attention", "batch_size", "sequence_length", "median_step_s",
                "frames_per_s", "peak_gpu_gib", "weights_changed_by_a_step"],
    "check": ["check", "passed", "device", "card", "steps", "wall_s"],
    "precision": ["precision", "gpt_params_m", "batch_size", "clip_seconds", "median_step_s", "peak_gpu_mb",
                  "non_finite_losses", "first_loss", "last_loss"],
}


def table(rows: list[dict]) -> str:
    columns = next(c for key, c in COLUMNS.items() if key in rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c)) for c in columns) + " |" for row in rows]
    return f"{rows[0].get('device', '')}\n\n" + "\n".join(lines)


for path in sys.argv[1:]:
    rows = json.loads(Path(path).read_text())
    if rows:
        print(f"### {Path(path).stem}\n\n{table(rows)}\n")
