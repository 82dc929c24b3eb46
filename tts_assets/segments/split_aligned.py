"""Split an aligned clip longer than `max_clip_s` (a curated clip of 20-30 s) at its pauses.

Word times come from the aligner, so the split happens where a clip is aligned: sentence ends
first, then the longest pauses, every part between `min_clip_s` and `max_clip_s` of words. Each
part carries its own words of the clip's text (punctuation and case kept), a cut of its own (the
padding never past the middle of the pause to the next part) and an identity derived from the
clip's: part k of n, segment ids `<id>#<k>`, audio file `<stem>_p<k>.wav`. Pure over the aligned
words; the same alignment always gives the same parts.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import regex

from tts_assets.aligners.base import AlignedWord
from tts_assets.audio.cut import CutRequest
from tts_assets.settings import MergeRules

# The words `text.normalize.spoken_words` finds (kept equal: a part's text must give its words).
_WORD = regex.compile(r"[\p{L}\p{M}]+(?:'[\p{L}\p{M}]+)*")
_SENTENCE_END = regex.compile(r"[.!?…。！？]")


def text_parts(text: str, word_counts: list[int]) -> list[str] | None:
    """`text` cut into consecutive parts holding `word_counts` spoken words each, the
    punctuation after a word staying with it; None when the text has another number of words."""
    starts = [match.start() for match in _WORD.finditer(text)]
    if len(starts) != sum(word_counts):
        return None
    parts, first = [], 0
    for count in word_counts:
        last = first + count
        parts.append(text[starts[first] if first else 0: starts[last] if last < len(starts) else len(text)].strip())
        first = last
    return parts


def split_points(text: str, words: list[AlignedWord], rules: MergeRules) -> list[int] | None:
    """Indices of the words that start a new part; None when no split fits the rules (no pause
    of `min_split_pause_s` leaves every part between `min_clip_s` and `max_clip_s`)."""
    starts = [match.start() for match in _WORD.finditer(text)]
    if len(starts) != len(words):
        return None
    ends = [match.end() for match in _WORD.finditer(text)]
    sentence_end = [False] + [bool(_SENTENCE_END.search(text, ends[i - 1], starts[i])) for i in range(1, len(words))]

    @functools.cache
    def split(lo: int, hi: int) -> tuple[int, ...] | None:
        if words[hi - 1].end - words[lo].start <= rules.max_clip_s:
            return ()
        candidates = []
        for i in range(lo + 1, hi):
            pause = words[i].start - words[i - 1].end
            left = words[i - 1].end - words[lo].start
            right = words[hi - 1].end - words[i].start
            if pause >= rules.min_split_pause_s and left >= rules.min_clip_s and right >= rules.min_clip_s:
                candidates.append(((sentence_end[i], round(pause, 3), -abs(left - right)), i))
        for _, i in sorted(candidates, reverse=True):  # the best split that lets both sides fit
            left, right = split(lo, i), split(i, hi)
            if left is not None and right is not None:
                return (*left, i, *right)
        return None

    points = split(0, len(words))
    return None if points is None else list(points)


def split_candidate(candidate, rules: MergeRules, pad_s: float, clip_end: float | None):
    """The aligned dataset's candidate (`dataset.finishing.Candidate`) as one candidate per part,
    or None when it cannot be split. `clip_end`: where the clip's audio ends (a curated clip),
    None when it is re-cut from a longer source (a book)."""
    words = candidate.words
    points = split_points(candidate.text, words, rules)
    if points is None:
        return None
    bounds = list(zip([0, *points], [*points, len(words)]))
    counts = [hi - lo for lo, hi in bounds]
    texts = text_parts(candidate.text, counts)
    # The written text's share of each part when its words are the spoken ones (no digits read out).
    originals = text_parts(candidate.row["text"], counts) or [candidate.row["text"]] * len(counts)
    row, offset = candidate.row, candidate.row["start"] or 0.0
    target = candidate.request.out_path
    parts = []
    for k, ((lo, hi), text, original) in enumerate(zip(bounds, texts, originals), start=1):
        start = words[lo].start - pad_s
        if lo:
            start = max(start, (words[lo - 1].end + words[lo].start) / 2)
        end = words[hi - 1].end + pad_s
        if hi < len(words):
            end = min(end, (words[hi - 1].end + words[hi].start) / 2)
        elif clip_end is not None:
            end = min(end, clip_end)
        part_row = {**row, "text": original, "segment_ids": [f"{i}#{k}" for i in row["segment_ids"]],
                    "part": k, "parts": len(bounds)}
        request = CutRequest(max(0.0, offset + start), offset + end,
                             target.with_name(f"{target.stem}_p{k}{target.suffix}"),
                             offset + words[lo].start, offset + words[hi - 1].end)
        parts.append(replace(candidate, row=part_row, text=text, words=words[lo:hi], request=request))
    return parts
