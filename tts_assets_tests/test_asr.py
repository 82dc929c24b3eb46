"""Real faster-whisper transcription (tiny.en from PyPI) of real and synthesized speech."""

import numpy as np
import pytest
import soundfile as sf

from tts_assets.settings import AsrSettings
from tts_assets.asr.whisper import load_model, transcribe
from tts_assets.errors import ModelNotFoundError

from .conftest import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts, wer


@pytest.fixture(scope="module")
def tiny_model(whisper_tiny):
    return load_model(AsrSettings(model=whisper_tiny))


@pytest.mark.parametrize("batch_size", [8, 1])
def test_librivox_transcribed_with_word_times(librivox_book, whisper_tiny, tiny_model, batch_size):
    settings = AsrSettings(model=whisper_tiny, language="en", batch_size=batch_size)
    segments = list(transcribe(librivox_book.audio, settings, model=tiny_model, id_prefix="b:"))
    text = " ".join(s.text for s in segments)
    assert wer(librivox_book.text, text) < 0.10
    words = [w for s in segments for w in s.words]
    assert all(a.start <= a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))
    # Words of each known sentence lie within that sentence's span (0.3 s tolerance).
    for sentence in librivox_book.sentences:
        inside = [w for w in words if sentence["start"] - 0.3 <= w.start and w.end <= sentence["end"] + 0.3]
        assert len(inside) >= len(sentence["text"].split()) - 2
    assert segments[0].id == "b:000000"


def test_small_windows_lose_no_speech_at_their_edges(sample_book, whisper_tiny, tiny_model):
    """A 92 s book in 65 s windows: speech at the window edge is redone, not cut or doubled."""
    whole = AsrSettings(model=whisper_tiny, language="en")
    windowed = AsrSettings(model=whisper_tiny, language="en", window_s=65, edge_s=5)
    text_whole = " ".join(s.text for s in transcribe(sample_book.audio, whole, model=tiny_model))
    segments = list(transcribe(sample_book.audio, windowed, model=tiny_model))
    text_windowed = " ".join(s.text for s in segments)
    assert wer(sample_book.text, text_windowed) <= wer(sample_book.text, text_whole) + 0.03
    assert wer(sample_book.text, text_windowed) < 0.15
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segments, segments[1:]))
    assert segments[-1].end > sample_book.sentences[-1]["end"] - 1.0


def test_times_stay_absolute_when_a_window_ends_in_a_long_pause(tmp_path, whisper_tiny, tiny_model):
    """Four real sentences far apart, in 80 s windows: the second window ends in silence (no speech at
    its edge), so the next one starts after its last segment; every later time must still be the
    book's, not shifted by the window's offset."""
    rate, placed, sentences = 16000, [0, 70, 100, 160], []
    book = np.zeros(170 * rate, dtype=np.float32)
    transcripts = librivox_transcripts()
    for at, clip_id in zip(placed, LIBRIVOX_IDS):
        audio, _ = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        book[at * rate : at * rate + len(audio)] = audio
        sentences.append((at, at + len(audio) / rate, transcripts[clip_id]))
    sf.write(tmp_path / "far_apart.flac", book, rate)
    settings = AsrSettings(model=whisper_tiny, language="en", window_s=80, edge_s=20)
    segments = list(transcribe(tmp_path / "far_apart.flac", settings, model=tiny_model))
    assert segments[-1].end <= 170
    for start, end, text in sentences:
        inside = [s for s in segments if start - 0.5 <= s.start and s.end <= end + 0.5]
        assert inside and wer(text, " ".join(s.text for s in inside)) < 0.25, (start, [s.start for s in segments])


def test_model_name_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="give a local CTranslate2 model folder"):
        load_model(AsrSettings(model="large-v3-no-such-cache"))


def test_missing_model_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        load_model(AsrSettings(model=str(tmp_path / "nope")))
