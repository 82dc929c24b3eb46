"""The aligned dataset's DNSMOS report: an OVRL histogram by book with the floor, the clips
nearest the floor, and the count below it."""

from __future__ import annotations

from pathlib import Path

from tts_assets.atomic import atomic_path
from tts_assets.manifest.report import png_markdown, rows_markdown

NEAREST = 10  # clips listed on each side of the floor


def ovrl_histogram_png(by_book: dict[str, list[float]], floor: float) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3), dpi=100)
    books = sorted(by_book)
    values = [v for book in books for v in by_book[book]]
    low, high = min(values + [floor]) - 0.1, max(values + [floor]) + 0.1
    axes.hist([by_book[b] for b in books], bins=30, range=(low, high), stacked=True, label=books)
    axes.axvline(floor, color="#b03030", linestyle="--", label=f"floor {floor}")
    axes.set_xlabel("DNSMOS OVRL (P.835)")
    axes.set_ylabel("clips")
    below = sum(v < floor for v in values)
    axes.set_title(f"{len(values)} clips scored, {below} below the floor")
    if len(books) <= 8:
        axes.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def dnsmos_report(rows: list[dict], floor: float | None, png: Path) -> dict | None:
    """Write the histogram of the scored rows (kept and below the floor) to `png`; the summary's
    `dnsmos` entry: the floor, counts, and the clips nearest the floor (None when not scored)."""
    if floor is None:
        png.unlink(missing_ok=True)  # a picture of an earlier build would mislead
        return None
    if not rows:
        png.unlink(missing_ok=True)
        return {"floor": floor, "scored": 0, "low_quality": 0, "nearest_floor": []}
    by_book: dict[str, list[float]] = {}
    for row in rows:
        by_book.setdefault(row["book"], []).append(row["quality_dnsmos_ovrl"])
    with atomic_path(png) as tmp:
        tmp.write_bytes(ovrl_histogram_png(by_book, floor))
    ranked = sorted(rows, key=lambda r: abs(r["quality_dnsmos_ovrl"] - floor))[: 2 * NEAREST]
    return {
        "floor": floor,
        "scored": len(rows),
        "low_quality": sum(r["quality_dnsmos_ovrl"] < floor for r in rows),
        "nearest_floor": [
            {"audio_file": r["audio_file"], "book": r["book"], "text": r["text"][:60],
             "ovrl": r["quality_dnsmos_ovrl"], "sig": r["quality_dnsmos_sig"], "bak": r["quality_dnsmos_bak"],
             "kept": r["quality_dnsmos_ovrl"] >= floor}
            for r in sorted(ranked, key=lambda r: r["quality_dnsmos_ovrl"])
        ],
    }


def report_markdown(dnsmos: dict, png: Path, listen=None) -> str:
    """The picture and the clips nearest the floor, for the Dagster UI; `listen(text)`: a link to
    hear the clip (the review page)."""
    lines = [f"**DNSMOS OVRL**: {dnsmos['scored']} clips scored, {dnsmos['low_quality']} below the floor "
             f"{dnsmos['floor']} (rejected, low_quality)."]
    if png.is_file():
        lines.append(png_markdown(png.read_bytes(), "DNSMOS OVRL histogram by book"))
    if dnsmos["nearest_floor"]:
        lines += ["Clips nearest the floor:",
                  rows_markdown([{**row, "listen": listen(row["text"]) if listen else ""} for row in dnsmos["nearest_floor"]],
                                ["ovrl", "sig", "bak", "kept", "book", "audio_file", "text", "listen"])]
    return "\n\n".join(lines)
