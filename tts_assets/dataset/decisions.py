"""What a listener decided on the review page, read by the aligned dataset on its next build.

Decisions live per voice in `datasets/<voice>/review_decisions.jsonl`, one JSON object a line,
append-only: `{"clip", "book", "segment_ids", "action", "text", "reason", "who", "at"}`. A clip is
named by the aligned row's identity (`book` + `segment_ids`), so a rebuilt dataset or an added book
keeps every decision; the last line about a clip wins.

- `reject`: the clip is rejected `review_rejected`, whatever the filters say;
- `correct`: the clip's text is replaced by `text` before alignment (then aligned and filtered as usual);
- `restore`: a clip the aligned stage rejected for `reason` skips that filter (only the reasons in
  RESTORABLE: the audio can still be aligned and cut), and each filter it was restored from before
  (until another decision); restoring a review rejection undoes it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from tts_assets.manifest.schema import Reason
from tts_assets.settings import DatasetSettings

log = logging.getLogger(__name__)


class Action(str, Enum):
    REJECT = "reject"
    RESTORE = "restore"
    CORRECT = "correct"


# Filters a listener may overrule: each judges a clip whose audio was aligned (or can be) and cut.
# Not restorable: unreadable or damaged audio, a failed alignment, text that cannot be spoken, a
# cut past the audio or inside a word, and every rejection of the earlier stages (no clip exists).
RESTORABLE = frozenset({
    Reason.LOW_ALIGN_SCORE, Reason.SPEAKING_RATE_OUTLIER, Reason.CLIPPING, Reason.LOW_SNR,
    Reason.TOO_MUCH_SILENCE, Reason.LOW_QUALITY, Reason.LOW_BANDWIDTH, Reason.LENGTH_MISMATCH, Reason.TOO_SHORT,
    Reason.TOO_LONG, Reason.REVIEW_REJECTED,
})

_APPEND_LOCK = threading.Lock()


def clip_id(row: dict) -> str:
    """A clip's stable name: its book and the segments it was made of."""
    return f"{row['book']}/{'+'.join(row['segment_ids'])}"


def append_decision(path: Path, row: dict, action: Action, who: str, text: str | None = None,
                    reason: str | None = None) -> dict:
    """Append one decision about `row` (a clip or rejection row) as one write of one whole line."""
    decision = {"clip": clip_id(row), "book": row["book"], "segment_ids": list(row["segment_ids"]),
                "action": action.value, "text": text, "reason": reason, "who": who,
                "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
    line = (json.dumps(decision, ensure_ascii=False) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _APPEND_LOCK:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A line torn by a crash is closed first, so it spoils only itself.
            if os.fstat(fd).st_size and not _ends_with_newline(path):
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    return decision


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_decisions(path: Path) -> list[dict]:
    """Every whole decision line in order (none when the file is absent); a torn line is skipped."""
    if not path.is_file():
        return []
    decisions = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            decision = json.loads(line)
            Action(decision["action"])
            decision["clip"]
        except (ValueError, KeyError, TypeError):
            log.warning("%s:%d: not a decision, skipped", path, number)
            continue
        decisions.append(decision)
    return decisions


def latest_by_clip(decisions: list[dict]) -> dict[str, dict]:
    return {d["clip"]: d for d in decisions}


@dataclass
class ReviewDecisions:
    """The decisions in force for one build of the aligned dataset."""

    latest: dict[str, dict] = field(default_factory=dict)
    lines: int = 0  # decision lines read: later lines are not applied yet
    # The reasons each clip was restored from since its last other decision: restored from one
    # filter, then rejected by another and restored again, it skips both.
    restored: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "ReviewDecisions":
        decisions = read_decisions(path)
        restored: dict[str, set[str]] = {}
        for decision in decisions:
            if decision["action"] == Action.RESTORE.value:
                restored.setdefault(decision["clip"], set()).add(decision.get("reason"))
            else:
                restored.pop(decision["clip"], None)
        return cls(latest_by_clip(decisions), len(decisions), restored)

    def _action(self, row: dict) -> dict | None:
        return self.latest.get(clip_id(row))

    def apply(self, rows: list[dict]) -> tuple[list[dict], list[tuple[dict, str]]]:
        """The rows to align (corrected texts put in, the old kept as `text_before_review`), and the
        rows rejected by a listener with the rejection's detail."""
        to_align, rejected = [], []
        for row in rows:
            decision = self._action(row)
            if decision is None:
                to_align.append(row)
            elif decision["action"] == Action.REJECT.value:
                rejected.append((row, f"rejected on the review page by {decision['who']} at {decision['at']}"))
            elif decision["action"] == Action.CORRECT.value:
                to_align.append({**row, "text": decision["text"], "text_before_review": row["text"]})
            else:
                to_align.append(row)
        return to_align, rejected

    def skips(self, row: dict, reason: Reason) -> bool:
        """Whether a listener restored `row` from a rejection for `reason` (and decided nothing else since)."""
        return reason.value in self.restored.get(clip_id(row), ())

    def settings_for(self, row: dict, settings: DatasetSettings) -> DatasetSettings:
        """The settings `row` is filtered with: the filter it was restored from turned off."""
        quality, merge = {}, {}
        if self.skips(row, Reason.LOW_ALIGN_SCORE):
            quality["min_align_score"] = 0.0
        if self.skips(row, Reason.CLIPPING):
            quality["max_clipping"] = 1.0
        if self.skips(row, Reason.LOW_SNR):
            quality["min_snr_db"] = float("-inf")
        if self.skips(row, Reason.TOO_MUCH_SILENCE):
            quality["max_silence"] = 1.0
        if self.skips(row, Reason.LENGTH_MISMATCH):
            quality.update(min_chars_per_s=0.0, max_chars_per_s=float("inf"))
        if self.skips(row, Reason.TOO_SHORT):
            merge["min_clip_s"] = 0.0
        if self.skips(row, Reason.TOO_LONG):
            merge["max_clip_s"] = float("inf")
        if not quality and not merge:
            return settings
        return settings.model_copy(update={"quality": settings.quality.model_copy(update=quality),
                                           "merge": settings.merge.model_copy(update=merge)})
