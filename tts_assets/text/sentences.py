"""Request text as the voices were trained on it, cut into pieces a TTS model speaks well: for the
server, evaluation and XTTS inference.

The datasets' texts are normalized (numbers, currency, abbreviations spelled out), so requests are
normalized the same way (`speakable`) before they are cut into pieces (`text_pieces`).

Texts are split at sentence ends (`.`, `!`, `?`, `…`, and line breaks; closing quotes and brackets
stay on their sentence; no split before a lowercase word, as in `"Really?" she asked.`); a sentence
still longer than `max_chars` is split at its last clause mark (`,;:` or a dash) before the limit,
else at its last space, else hard. Pieces keep their punctuation (it shapes the prosody); a piece
with no letter or digit (`...`, emoji, zero-width spaces) has nothing to speak and is dropped.
"""

from __future__ import annotations

from tts_assets.text.normalize import normalize_text

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?![a-z])|\s*\n\s*")
_CLAUSE = re.compile(r"[,;:]\s|\s[-–—]+\s")


def split_sentences(text: str) -> list[str]:
    sentences = []
    position = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start() + len(match.group(0).rstrip())
        sentences.append(text[position:end].strip())
        position = match.end()
    sentences.append(text[position:].strip())
    return [s for s in sentences if s]


def _split_long(sentence: str, max_chars: int) -> list[str]:
    pieces = []
    while len(sentence) > max_chars:
        head = sentence[: max_chars + 1]
        cuts = [m.end() for m in _CLAUSE.finditer(head) if m.end() > max_chars // 3]
        cut = cuts[-1] if cuts else head.rfind(" ") + 1
        if cut <= 0:
            cut = max_chars
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return pieces


def text_pieces(text: str, max_chars: int = 250, pack: bool = False) -> list[str]:
    """Sentences of `text`, each at most `max_chars` long, in order. `pack` joins neighbours (with a
    space) while the joined piece stays within `max_chars`: fewer model calls where pieces are not
    streamed one by one (XTTS cuts off a piece past its limit, so the limit still holds)."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        for piece in _split_long(sentence, max_chars):
            if not any(char.isalnum() for char in piece):
                continue
            if pack and pieces and len(pieces[-1]) + 1 + len(piece) <= max_chars:
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
    return pieces


def speakable(text: str, language: str = "en", normalize: bool = True) -> str:
    text = " ".join(text.replace("\r", "\n").split(" "))
    # normalize_text joins lines; keep paragraph/line breaks as sentence ends.
    return "\n".join(normalize_text(line, language) if normalize else " ".join(line.split())
                     for line in text.split("\n") if line.strip())
