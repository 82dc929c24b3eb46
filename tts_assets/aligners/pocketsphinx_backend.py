"""Offline English forced alignment with pocketsphinx's en-US acoustic model and CMUdict."""

from __future__ import annotations

import math
import re

import numpy as np
from anyascii import anyascii

from tts_assets.aligners.base import ALIGN_RATE, AlignedWord, AlignmentError

FRAME_S = 0.01
EDGE_PAD_S = 0.25
NON_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}

# Letter-to-sound guesses for words CMUdict lacks (names, old spellings). Crude, but it gives the
# aligner a pronunciation of about the right length, which is all alignment needs.
_GRAPHEMES = [
    ("tch", "CH"), ("sch", "S K"), ("igh", "AY"), ("ough", "AO"), ("augh", "AO"), ("eigh", "EY"),
    ("th", "TH"), ("sh", "SH"), ("ch", "CH"), ("ph", "F"), ("wh", "W"), ("ck", "K"), ("ng", "NG"),
    ("qu", "K W"), ("ee", "IY"), ("ea", "IY"), ("oo", "UW"), ("ou", "AW"), ("ow", "OW"),
    ("ai", "EY"), ("ay", "EY"), ("oi", "OY"), ("oy", "OY"), ("au", "AO"), ("aw", "AO"),
    ("ie", "IY"), ("ei", "EY"), ("er", "ER"), ("ir", "ER"), ("ur", "ER"), ("ar", "AA R"),
    ("or", "AO R"), ("a", "AE"), ("b", "B"), ("c", "K"), ("d", "D"), ("e", "EH"), ("f", "F"),
    ("g", "G"), ("h", "HH"), ("i", "IH"), ("j", "JH"), ("k", "K"), ("l", "L"), ("m", "M"),
    ("n", "N"), ("o", "AA"), ("p", "P"), ("q", "K"), ("r", "R"), ("s", "S"), ("t", "T"),
    ("u", "AH"), ("v", "V"), ("w", "W"), ("x", "K S"), ("y", "Y"), ("z", "Z"),
]


def guess_phones(word: str) -> str:
    phones, i, letters = [], 0, re.sub(r"[^a-z]", "", word.lower())
    while i < len(letters):
        for graphemes, sound in _GRAPHEMES:
            if letters.startswith(graphemes, i):
                phones.append(sound)
                i += len(graphemes)
                break
        else:
            i += 1
    # Collapse doubled consonants ("ll" is one L).
    collapsed = [p for j, p in enumerate(phones) if j == 0 or p != phones[j - 1]]
    return " ".join(collapsed) or "AH"


def ascii_spelling(word: str) -> str:
    """CMUdict and the letter-to-sound guesses spell with a-z and apostrophes: "café" aligns as
    "cafe", "straße" as "strasse"."""
    return re.sub(r"[^a-z']", "", anyascii(word).lower())


# Wider than pocketsphinx's defaults (beam 1e-48, wbeam 7e-29, no cap on active HMMs): fewer
# paths pruned before the end of the text, at a few times the cost; a retry for failed clips.
WIDE_BEAMS = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80, "lpbeam": 1e-60, "lponlybeam": 1e-60, "maxhmmpf": -1}


class PocketsphinxAligner:
    name = "pocketsphinx"
    model = "en-us (pocketsphinx's own)"

    def __init__(self, name: str = "pocketsphinx", **decoder_options) -> None:
        """`decoder_options`: pocketsphinx Decoder settings, e.g. WIDE_BEAMS."""
        from pocketsphinx import Decoder

        self.name = name
        self._decoder = Decoder(samprate=ALIGN_RATE, loglevel="FATAL", **decoder_options)

    def _ensure_known(self, words: list[str]) -> None:
        for word in set(words):
            if self._decoder.lookup_word(word) is None:
                self._decoder.add_word(word, guess_phones(word), True)

    def align(self, audio: np.ndarray, words: list[str]) -> list[AlignedWord]:
        if not words:
            raise AlignmentError("no words to align")
        spelled = [ascii_spelling(word) for word in words]
        if not all(spelled):
            raise AlignmentError(f"pocketsphinx has no spelling for {words[spelled.index('')]!r}")
        self._ensure_known(spelled)
        # Silence on both sides: without it a word touching the edge can vanish into </s>.
        edge = np.zeros(int(EDGE_PAD_S * ALIGN_RATE), dtype=np.float32)
        padded = np.concatenate([edge, audio, edge])
        pcm = (np.clip(padded, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        decoder = self._decoder
        try:
            decoder.set_align_text(" ".join(spelled))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
        except RuntimeError as exc:
            raise AlignmentError(f"pocketsphinx: {exc}") from exc
        if decoder.hyp() is None:
            raise AlignmentError("pocketsphinx found no alignment (audio and text do not match)")
        found, times = [], []
        for segment in decoder.seg():
            word = re.sub(r"\(\d+\)$", "", segment.word)  # "and(2)": an alternative pronunciation
            if word in NON_WORDS:
                continue
            frames = segment.end_frame - segment.start_frame + 1
            # ascore is the acoustic likelihood; its per-frame geometric mean is a 0..1 match score.
            score = math.exp(math.log(max(segment.ascore, 1e-300)) / frames)
            duration = len(audio) / ALIGN_RATE
            start = min(max(segment.start_frame * FRAME_S - EDGE_PAD_S, 0.0), duration)
            end = min(max((segment.end_frame + 1) * FRAME_S - EDGE_PAD_S, start), duration)
            found.append(word)
            times.append((round(start, 3), round(end, 3), round(score, 4)))
        if found != spelled:
            raise AlignmentError(f"pocketsphinx aligned {len(found)} of {len(words)} words")
        # The words as given, not their ASCII spelling: the dataset keeps the text's own.
        return [AlignedWord(word, *timing) for word, timing in zip(words, times)]
