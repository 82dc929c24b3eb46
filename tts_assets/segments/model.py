"""Segments with word timings: the unit every later stage accounts for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        data = asdict(self)
        data["words"] = [asdict(w) for w in self.words]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Segment":
        words = tuple(Word(**w) for w in data.get("words") or ())
        return cls(
            id=str(data["id"]),
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data.get("text") or ""),
            words=words,
        )


def join_words(words: tuple[Word, ...] | list[Word]) -> str:
    """Whisper words carry their own leading spaces; keep them, trim the ends."""
    return "".join(w.word for w in words).strip()
