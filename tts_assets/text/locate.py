"""Find each transcript segment in the book's own text, so a clip can carry the book's words.

Segments come in time order and the reading runs through the book in order, so a cursor moves
forward through the book: each segment is searched for (edlib's infix alignment over letters, which
forgives "male box" for "Mailbox") first just past where the previous one ended, then in windows
growing up to `search_chars` ahead, for a skipped paragraph, front matter or an unread heading. The
earliest window where it matches wins, so repeated text does not pull the cursor ahead. Nothing
searches more than `search_chars` of book for one segment: the cost is linear in the book.

A segment gets one verdict: `book` (its letters differ from a stretch of the book by at most
`max_mismatch` of their number), `not_in_book` (it differs from every stretch it was compared with by
at least `not_in_book_mismatch`: a spoken intro, a LibriVox notice), or `mismatch` (in between: the
book has something like it, but the audio says otherwise).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import edlib

from tts_assets.settings import BookTextSettings
from tts_assets.text.book_text import BookText, matching_form

BOOK, NOT_IN_BOOK, MISMATCH = "book", "not_in_book", "mismatch"
MAX_HELD = 4  # unfound segments kept back to be looked for before the next one found


@dataclass(frozen=True)
class Location:
    verdict: str
    mismatch: float  # edit distance / letters, against the best stretch found
    first: int | None = None  # the book's words first..last (inclusive) when the verdict is `book`
    last: int | None = None
    text: str = ""  # the book's words, as written
    # For each ASR word, the book's words that stand for it ("" when the book has none there)
    word_texts: list[str] = field(default_factory=list)


class _MatchingText:
    """The book's matching forms joined by spaces, with where each word's form lies in it."""

    def __init__(self, book: BookText):
        self.words = [i for i, form in enumerate(book.forms) if form]  # book word of each keyed word
        self.keyed_of = {i: k for k, i in enumerate(self.words)}
        self.starts, parts, position = [], [], 0
        for i in self.words:
            self.starts.append(position)
            parts.append(book.forms[i])
            position += len(book.forms[i]) + 1
        self.text = " ".join(parts)

    def keyed_at(self, position: int, is_end: bool) -> int:
        """The keyed word a match boundary at `position` falls in; a boundary past (start) or before
        (end) the middle of a word leaves that word out."""
        k = max(bisect.bisect_right(self.starts, position) - 1, 0)
        word_end = self.starts[k] + len(self.text_of(k))
        middle = (self.starts[k] + word_end) / 2
        if not is_end and position > middle:
            return min(k + 1, len(self.starts) - 1)
        if is_end and position < middle and k > 0 and position < word_end:
            return k - 1
        return k

    def text_of(self, k: int) -> str:
        end = self.starts[k + 1] - 1 if k + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[k]:end]


def _query(words: list[str]) -> tuple[str, list[int | None]]:
    """The ASR words' matching forms joined by spaces, and where each word's form starts in it."""
    offsets, parts, position = [], [], 0
    for word in words:
        form = matching_form(word)
        offsets.append(position if form else None)
        if form:
            parts.append(form)
            position += len(form) + 1
    return " ".join(parts), offsets


def _target_positions(cigar: str, query_length: int) -> list[int]:
    """For each query character (and the end), the target position it is aligned with."""
    positions, t = [], 0
    for count, op in re.findall(r"(\d+)([=XID])", cigar):
        for _ in range(int(count)):
            if op in "=XI":
                positions.append(t)
            if op in "=XD":
                t += 1
    positions += [t] * (query_length + 1 - len(positions))
    return positions


class BookLocator:
    """Locates segments one after another; `locate` takes the next segment's ASR words."""

    def __init__(self, book: BookText, rules: BookTextSettings = BookTextSettings()):
        self.book, self.rules = book, rules
        self.matching = _MatchingText(book)
        self.cursor = 0  # position in the matching text past the last located segment

    def locate(self, words: list[str]) -> Location:
        query, offsets = _query(words)
        if not query or not self.matching.words:
            return Location(NOT_IN_BOOK, 1.0, word_texts=[""] * len(words))
        best = 1.0
        window = 2 * len(query) + 40
        while True:
            end = min(self.cursor + window, len(self.matching.text))
            location = self._search(query, offsets, len(words), self.cursor, end)
            if location.verdict == BOOK:
                self.cursor = self._after(location)
                return location
            best = min(best, location.mismatch)
            if (end == len(self.matching.text) or window >= self.rules.search_chars
                    or len(query) < self.rules.min_search_chars):
                break
            window = min(window * 4, self.rules.search_chars)
        verdict = NOT_IN_BOOK if best >= self.rules.not_in_book_mismatch else MISMATCH
        return Location(verdict, round(best, 4), word_texts=[""] * len(words))

    def locate_before(self, words: list[str], location: Location, floor: int) -> Location | None:
        """A short segment not found on its own, looked for just before the next segment's
        `location` (and after `floor`): "Chapter One." before the chapter's first sentence."""
        query, offsets = _query(words)
        if not query:
            return None
        end = self.matching.starts[self.matching.keyed_of[location.first]] - 1  # the space before it
        lo = max(floor, end - 2 * len(query) - 40)
        # Aligned backwards from `end` (edlib's prefix mode on reversed text), so the match ends
        # right before the next segment and not at an earlier copy ("Contents: Chapter One").
        found = edlib.align(query[::-1], self.matching.text[lo:end][::-1], mode="SHW", task="locations")
        if found["editDistance"] < 0 or found["editDistance"] / len(query) > self.rules.max_mismatch:
            return None
        located = self._accept(query, offsets, end - 1 - found["locations"][0][1], end - 1, len(words))
        return located if located.verdict == BOOK else None

    def _after(self, location: Location) -> int:
        """The matching text's position just past a located segment."""
        k = self.matching.keyed_of[location.last]
        return self.matching.starts[k] + len(self.matching.text_of(k)) + 1

    def _search(self, query: str, offsets: list[int | None], n_words: int, lo: int, hi: int) -> Location:
        target = self.matching.text[lo:hi]
        found = edlib.align(query, target, mode="HW", task="locations") if target else None
        if not found or found["editDistance"] < 0:
            return Location(NOT_IN_BOOK, 1.0, word_texts=[""] * n_words)
        mismatch = found["editDistance"] / len(query)
        if mismatch > self.rules.max_mismatch:
            return Location(MISMATCH, round(mismatch, 4), word_texts=[""] * n_words)
        start, stop = found["locations"][0]
        return self._accept(query, offsets, lo + start, lo + stop, n_words)

    def _accept(self, query: str, offsets: list[int | None], start: int, stop: int, n_words: int) -> Location:
        """The match from `start` to `stop` (inclusive) widened to whole words, judged as a whole
        against the segment, each ASR word given the book's words aligned with it."""
        matching = self.matching
        first_k, last_k = matching.keyed_at(start, is_end=False), matching.keyed_at(stop, is_end=True)
        if last_k < first_k:
            return Location(MISMATCH, 1.0, word_texts=[""] * n_words)
        span_start = matching.starts[first_k]
        span_text = matching.text[span_start:matching.starts[last_k] + len(matching.text_of(last_k))]
        aligned = edlib.align(query, span_text, mode="NW", task="path")
        mismatch = aligned["editDistance"] / max(len(query), len(span_text))
        if mismatch > self.rules.max_mismatch:
            return Location(MISMATCH, round(mismatch, 4), word_texts=[""] * n_words)
        positions = _target_positions(aligned["cigar"], len(query))
        # Where each ASR word starts in the book, rounded to the nearest keyed word's start.
        span_starts = [s - span_start for s in matching.starts[first_k:last_k + 1]]
        bounds = []
        for offset in offsets:
            if offset is None:
                bounds.append(None)
                continue
            p = positions[offset]
            i = bisect.bisect_left(span_starts, p)
            nearest = min((j for j in (i - 1, i) if 0 <= j < len(span_starts)), key=lambda j: abs(span_starts[j] - p))
            bounds.append(first_k + nearest)
        located = [k for k in bounds if k is not None]
        located[0] = first_k  # the first spoken word takes any book words the ASR left out before it
        monotone, highest = [], first_k
        for k in located:
            highest = max(highest, k)
            monotone.append(highest)
        ends = monotone[1:] + [last_k + 1]
        # Punctuation alone ("—") between two words goes with the word before it.
        texts = iter(
            self.book.quote(matching.words[a], matching.words[b] - 1 if b <= last_k else matching.words[last_k])
            if b > a else ""
            for a, b in zip(monotone, ends)
        )
        word_texts = ["" if k is None else next(texts) for k in bounds]
        first, last = matching.words[first_k], matching.words[last_k]
        return Location(BOOK, round(mismatch, 4), first, last, self.book.quote(first, last), word_texts)


def locate_segments(book: BookText, segments: Iterable[list[str]], rules: BookTextSettings = BookTextSettings()
                    ) -> Iterator[Location]:
    """Each segment's location, in order; a segment is its ASR words. Short segments not found are
    held (a few at most) until the next one is found, then looked for just before it."""
    locator = BookLocator(book, rules)
    held: list[tuple[list[str], Location]] = []
    floor = 0
    for words in segments:
        location = locator.locate(words)
        if location.verdict != BOOK:
            held.append((words, location))
            if len(held) > MAX_HELD:
                yield held.pop(0)[1]
            continue
        later = location
        for index in range(len(held) - 1, -1, -1):  # backwards from the segment just found
            before = locator.locate_before(held[index][0], later, floor)
            if before is None:
                break
            held[index] = (held[index][0], later := before)
        yield from (found for _, found in held)
        yield location
        held, floor = [], locator.cursor
    yield from (found for _, found in held)


@dataclass(frozen=True)
class Stretch:
    first: int  # book words
    last: int
    words: int  # how many of them have letters
    excerpt: str


def coverage(book: BookText, locations: Iterable[Location], longest: int = 10) -> tuple[float, list[Stretch]]:
    """The share of the book's words found in the audio, and its longest stretches not found."""
    found = [False] * len(book.forms)
    for location in locations:
        if location.verdict == BOOK:
            found[location.first:location.last + 1] = [True] * (location.last + 1 - location.first)
    keyed = [i for i, form in enumerate(book.forms) if form]
    share = sum(found[i] for i in keyed) / len(keyed) if keyed else 0.0
    runs, run = [], []
    for i in keyed:
        if not found[i]:
            run.append(i)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    runs.sort(key=len, reverse=True)
    stretches = []
    for run in runs[:longest]:
        excerpt = book.quote(run[0], run[min(len(run), 12) - 1]) + (" …" if len(run) > 12 else "")
        stretches.append(Stretch(run[0], run[-1], len(run), excerpt))
    return share, stretches
