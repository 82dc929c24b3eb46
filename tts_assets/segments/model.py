"""Segments with word timings: the unit every later stage accounts for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None
    asr: str | None = None  # the ASR's word when `word` is the book's ("" for none there)

    @classmethod
    def from_dict(cls, data: dict) -> "Word":
        """A word from a user's file: times as numbers (or numeric strings), in order."""
        if not isinstance(data, dict) or not isinstance(data.get("word"), str):
            raise ValueError(f"word {data!r} is not an object with a string field word")

        def number(key: str) -> float:
            try:
                return float(data[key])
            except (TypeError, ValueError):
                raise ValueError(f"word {data['word']!r}: {key} {data[key]!r} is not a number") from None

        asr = data.get("asr")
        word = cls(data["word"], number("start"), number("end"),
                   None if data.get("probability") is None else number("probability"),
                   asr if isinstance(asr, str) else None)
        if not word.start <= word.end:
            raise ValueError(f"word {word.word!r} ends at {word.end} before it starts at {word.start}")
        return word


@dataclass(frozen=True)
class Segment:
    id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    verify_text: str | None = None  # what asr.verify_model heard in the segment's audio
    text_source: str = "asr"  # manifest.schema.TextSource
    text_asr: str | None = None  # the ASR's text when `text` is the book's

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        data = asdict(self)
        data["words"] = [{k: v for k, v in asdict(w).items() if k != "asr" or v is not None} for w in self.words]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Segment":
        words = data.get("words") or ()
        if not isinstance(words, (list, tuple)):
            raise ValueError(f"words {words!r} is not a list")
        return cls(
            id=str(data["id"]),
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data.get("text") or ""),
            words=tuple(Word.from_dict(w) for w in words),
            verify_text=data.get("verify_text"),
            text_source=str(data.get("text_source") or "asr"),
            text_asr=data.get("text_asr") if isinstance(data.get("text_asr"), str) else None,
        )


def join_words(words: tuple[Word, ...] | list[Word]) -> str:
    """Whisper words carry their own leading spaces; keep them, trim the ends."""
    return "".join(w.word for w in words).strip()


def join_asr_words(words: tuple[Word, ...] | list[Word]) -> str:
    """What the ASR heard of these words, whether or not the book's words replaced them."""
    return "".join(w.word if w.asr is None else w.asr for w in words).strip()
