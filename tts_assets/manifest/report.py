"""The dataset report for the UI: a duration histogram picture and a sample-rows table."""

from __future__ import annotations

import base64
import io


def duration_histogram_png(durations: list[float], bins: int = 20) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3), dpi=100)
    axes.hist(durations or [0.0], bins=bins, color="#4f6fb0", edgecolor="white")
    axes.set_xlabel("clip duration (s)")
    axes.set_ylabel("clips")
    axes.set_title(f"{len(durations)} clips, {sum(durations) / 60:.1f} min")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def rows_markdown(rows: list[dict], columns: list[str]) -> str:
    def cell(value) -> str:
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
