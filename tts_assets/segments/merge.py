"""Turn transcript segments into clip spans: split long ones at pauses, merge short neighbours.

Pure functions over segments; no audio, no I/O. Every input segment ends up either in
accepted spans (one, or several when it is split) or in one rejection, never both.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from tts_assets.manifest.schema import Reason
from tts_assets.segments.model import Segment, Word, join_asr_words, join_words
from tts_assets.settings import MergeRules


@dataclass
class Piece:
    """A segment, or a part of one split at a pause; times are the first and last word's."""

    segment_id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    text_source: str = "asr"
    text_asr: str | None = None  # when `text` is the book's


@dataclass
class Span:
    """A planned clip: consecutive pieces and the cut points around them."""

    pieces: list[Piece]
    cut_start: float = 0.0
    cut_end: float = 0.0

    @property
    def start(self) -> float:
        return self.pieces[0].start

    @property
    def end(self) -> float:
        return self.pieces[-1].end

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.pieces if p.text)

    @property
    def text_source(self) -> str:
        return self.pieces[0].text_source  # pieces of different sources are never merged

    @property
    def text_asr(self) -> str | None:
        if self.text_source != "book":
            return None
        return " ".join(p.text_asr for p in self.pieces if p.text_asr)

    @property
    def segment_ids(self) -> list[str]:
        return list(dict.fromkeys(p.segment_id for p in self.pieces))


@dataclass
class SpanRejection:
    segment_ids: list[str]
    start: float
    end: float
    text: str
    reason: Reason
    detail: str


@dataclass
class Plan:
    spans: list[Span] = field(default_factory=list)
    rejections: list[SpanRejection] = field(default_factory=list)


def _piece(segment: Segment, words: tuple[Word, ...]) -> Piece:
    asr = join_asr_words(words) if segment.text_source == "book" else None
    return Piece(segment.id, words[0].start, words[-1].end, join_words(words), words, segment.text_source, asr)


def split_at_pauses(segment: Segment, rules: MergeRules) -> list[Piece] | None:
    """Split a too-long segment at its largest inner word gaps until every part fits.

    Only gaps that leave both sides at least `min_clip_s` long are used, so no part is
    born too short; the largest gap wins, ties go to the more even split. Returns None
    when no such split exists (no word times, or one endless word).
    """
    if not segment.words:
        return None

    def split(words: tuple[Word, ...]) -> list[tuple[Word, ...]] | None:
        if words[-1].end - words[0].start <= rules.max_clip_s:
            return [words]
        best, best_key = None, None
        for i in range(1, len(words)):
            left = words[i - 1].end - words[0].start
            right = words[-1].end - words[i].start
            if left < rules.min_clip_s or right < rules.min_clip_s:
                continue
            key = (words[i].start - words[i - 1].end, -abs(left - right))
            if best_key is None or key > best_key:
                best, best_key = i, key
        if best is None:
            return None
        left_parts, right_parts = split(words[:best]), split(words[best:])
        if left_parts is None or right_parts is None:
            return None
        return left_parts + right_parts

    parts = split(segment.words)
    return None if parts is None else [_piece(segment, part) for part in parts]


def _as_piece(segment: Segment) -> Piece:
    if segment.words:
        return _piece(segment, segment.words)
    return Piece(segment.id, segment.start, segment.end, segment.text.strip(), (), segment.text_source,
                 segment.text_asr)


def _reject(segment: Segment, reason: Reason, detail: str) -> SpanRejection:
    return SpanRejection([segment.id], segment.start, segment.end, segment.text, reason, detail)


def plan_spans(
    segments: list[Segment], rules: MergeRules = MergeRules(), hard_breaks: list[float] = ()
) -> Plan:
    """Plan clip spans from time-ordered segments.

    `hard_breaks` (e.g. chapter starts) are never merged across.
    """
    plan = Plan()
    pieces: list[Piece] = []
    for segment in sorted(segments, key=lambda s: s.start):
        if not segment.text.strip():
            plan.rejections.append(_reject(segment, Reason.EMPTY_TEXT, "segment has no text"))
            continue
        piece = _as_piece(segment)
        if piece.end - piece.start <= rules.max_clip_s:
            pieces.append(piece)
            continue
        parts = split_at_pauses(segment, rules)
        if parts is None:
            why = "no word timings" if not segment.words else "no pause leaves both parts long enough"
            plan.rejections.append(
                _reject(
                    segment,
                    Reason.TOO_LONG,
                    f"{segment.duration:.2f} s > {rules.max_clip_s} s and cannot be split: {why}",
                )
            )
            continue
        pieces.extend(parts)

    # Nor across a segment rejected here (no text, too long): no clip holds speech its text lacks.
    hard_breaks = [*hard_breaks, *(r.start for r in plan.rejections)]
    groups: list[list[Piece]] = []
    for piece in pieces:
        if groups:
            group = groups[-1]
            gap = piece.start - group[-1].end
            crosses_break = any(group[-1].end <= b <= piece.start for b in hard_breaks)
            if (
                group[-1].end - group[0].start < rules.merge_below_s
                and gap <= rules.max_gap_s
                and piece.end - group[0].start <= rules.max_clip_s
                and not crosses_break
                and piece.text_source == group[0].text_source  # a clip's text has one source
            ):
                group.append(piece)
                continue
        groups.append([piece])

    kept: list[Span] = []
    for group in groups:
        span = Span(group)
        previous = kept[-1] if kept else None
        if (
            previous is not None
            and min(span.end - span.start, previous.end - previous.start) < rules.merge_below_s
            and span.start - previous.end <= rules.max_short_merge_gap_s
            and span.end - previous.start <= rules.max_clip_s
            and not any(previous.end <= b <= span.start for b in hard_breaks)
            and span.text_source == previous.text_source
        ):
            # A span too short to stand well (an isolated short sentence, the end of a sentence
            # Whisper split) joins its neighbour across a longer pause, kept as it is in the clip.
            previous.pieces.extend(group)
            continue
        kept.append(span)
    too_short = [span for span in kept if span.end - span.start < rules.min_clip_s]
    for span in too_short:
        # One rejection per segment, so accepted + rejected always adds up to the total.
        for piece in span.pieces:
            plan.rejections.append(
                SpanRejection(
                    [piece.segment_id],
                    piece.start,
                    piece.end,
                    piece.text,
                    Reason.TOO_SHORT,
                    f"{span.end - span.start:.2f} s after merging {len(span.pieces)} segment(s)"
                    f" < {rules.min_clip_s} s",
                )
            )
    kept = [span for span in kept if span.end - span.start >= rules.min_clip_s]
    speech = [(p.start, p.end) for p in pieces]
    speech += [(r.start, r.end) for r in plan.rejections]  # rejected speech is still not to be cut into
    _place_cuts(kept, speech, rules.pad_s)
    plan.spans = kept
    return plan


def _place_cuts(spans: list[Span], occupied: list[tuple[float, float]], pad_s: float) -> None:
    """Pad each span by `pad_s`, but never past the midpoint of the gap to neighbouring speech,
    so no cut falls inside a word of this or any other segment."""
    occupied = sorted(occupied)
    starts = [s for s, _ in occupied]
    running_end, ends_so_far = float("-inf"), []
    for _, end in occupied:
        running_end = max(running_end, end)
        ends_so_far.append(running_end)
    for span in spans:
        before = bisect.bisect_left(starts, span.start) - 1  # speech that starts before this span
        after = bisect.bisect_left(starts, span.end)  # speech that starts where it ends, or later
        lower = span.start - pad_s
        if before >= 0 and ends_so_far[before] <= span.start:
            lower = max(lower, (ends_so_far[before] + span.start) / 2)
        upper = span.end + pad_s
        if after < len(starts):
            upper = min(upper, (span.end + starts[after]) / 2)
        span.cut_start = round(max(0.0, lower), 3)
        span.cut_end = round(upper, 3)
