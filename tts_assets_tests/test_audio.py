"""Probe, streaming decode and cutting on real files."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from tts_assets.atomic import atomic_path
from tts_assets.audio.cut import CutRequest, cut_clips, cut_in_order, quiet_position
from tts_assets.audio.decode import stream_pcm
from tts_assets.audio.probe import probe
from tts_assets.errors import UnreadableAudioError


def test_probe_reads_m4b_chapters(sample_book):
    info = probe(sample_book.audio)
    assert info.codec == "aac" and info.channels == 1 and info.sample_rate == 22050
    assert [c.title for c in info.chapters] == ["Chapter One", "Chapter Two"]
    assert info.chapters[1].start == pytest.approx(
        max(s["end"] for s in sample_book.sentences if s["chapter"] == 1) + 0.6 + 2.0, abs=0.05
    )
    assert info.duration == pytest.approx(info.chapters[-1].end, abs=0.1)


def test_stream_pcm_chunks_are_bounded_and_complete(librivox_book):
    chunks = list(stream_pcm(librivox_book.audio, 24000, chunk_seconds=2.0))
    assert all(len(c) == 48000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 48000
    total = sum(len(c) for c in chunks) / 24000
    assert total == pytest.approx(sf.info(librivox_book.audio).duration, abs=0.01)


def test_cut_clips_matches_slices_of_a_full_decode(librivox_book, tmp_path):
    full = np.concatenate(list(stream_pcm(librivox_book.audio, 24000)))
    spans = [(0.5, 3.25), (3.0, 6.0), (10.0, 12.5), (29.0, 29.7)]  # overlapping and at the end
    requests = [CutRequest(a, b, tmp_path / f"c{i}.wav") for i, (a, b) in enumerate(spans)]
    results = cut_clips(librivox_book.audio, list(reversed(requests)), 24000, "PCM_16", chunk_seconds=1.0)
    assert [r.request for r in results] == list(reversed(requests))
    for (start, end), result in zip(spans, reversed(results)):
        clip, rate = sf.read(result.request.out_path, dtype="float32")
        assert rate == 24000 and sf.info(result.request.out_path).subtype == "PCM_16"
        assert abs(result.start - start) <= 0.3 and abs(result.end - end) <= 0.3
        expected = full[round(result.start * 24000) : round(result.end * 24000)]
        assert len(clip) == len(expected) == result.samples
        assert np.abs(clip - expected).max() < 1e-3  # 16-bit quantisation only


def test_cut_in_order_takes_each_request_when_the_clip_before_it_is_written(librivox_book, tmp_path):
    """The aligned stage decides the clips while the decode goes on: each request is read only
    after the clip before it is written, and the clips are those `cut_clips` writes."""
    spans = [(0.5, 3.25), (3.0, 6.0), (10.0, 12.5)]
    events = []

    def requests():
        for i, (a, b) in enumerate(spans):
            events.append(f"asked {i}")
            yield CutRequest(a, b, tmp_path / f"lazy{i}.wav")

    for i, result in enumerate(cut_in_order(librivox_book.audio, requests(), chunk_seconds=1.0)):
        events.append(f"written {i}")
        assert result.request.out_path.is_file()
    assert events == ["asked 0", "written 0", "asked 1", "written 1", "asked 2", "written 2"]
    whole = cut_clips(librivox_book.audio, [CutRequest(a, b, tmp_path / f"all{i}.wav") for i, (a, b) in enumerate(spans)])
    for i, result in enumerate(whole):
        assert np.array_equal(sf.read(tmp_path / f"lazy{i}.wav")[0], sf.read(result.request.out_path)[0])
    late_first = iter([CutRequest(5.0, 6.0, tmp_path / "b.wav"), CutRequest(1.0, 2.0, tmp_path / "a.wav")])
    with pytest.raises(ValueError, match="out of order"):
        list(cut_in_order(librivox_book.audio, late_first))


def test_a_cut_in_speech_moves_into_the_nearest_pause_and_one_in_a_pause_stays():
    rate = 24000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(int(0.4 * rate), np.float32), tone])  # pause 1.0–1.4 s
    moved = quiet_position(audio, int(0.95 * rate), rate) / rate
    assert 1.0 + 0.07 <= moved <= 1.1  # inside the pause, clear of the speech edge, nearest to 0.95
    assert quiet_position(audio, int(1.2 * rate), rate) == int(1.2 * rate)
    assert 1.3 <= quiet_position(audio, int(1.6 * rate), rate) / rate <= 1.4 - 0.07
    assert quiet_position(audio, int(0.5 * rate), rate) == int(0.5 * rate)  # no pause within reach


def test_a_long_pause_within_reach_wins_over_a_nearer_stop_closure():
    """"A s|teaming": the 70 ms silence of a stop inside a word is nearer to a late word time than
    the pause before the sentence, which is where the cut belongs."""
    rate = 24000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    silence = lambda seconds: np.zeros(int(seconds * rate), np.float32)  # noqa: E731
    audio = np.concatenate([tone, silence(0.4), tone[: int(0.1 * rate)], silence(0.07), tone])
    # pause 1.0-1.4 s, "A s" 1.4-1.5 s, closure 1.5-1.57 s, "teaming" from 1.57 s
    moved = quiet_position(audio, int(1.55 * rate), rate) / rate
    assert 1.2 <= moved <= 1.4 - 0.07
    assert 1.5 <= quiet_position(audio, int(1.55 * rate), rate, not_before=int(1.45 * rate)) / rate <= 1.57


def test_cut_past_the_end_is_reported_not_written(librivox_book, tmp_path):
    results = cut_clips(librivox_book.audio, [CutRequest(40.0, 42.0, tmp_path / "late.wav")])
    assert results[0].samples == 0 and not (tmp_path / "late.wav").exists()


@pytest.mark.parametrize(
    "content, cause",
    [(b"", "empty file"), (b"this is not audio at all\n" * 50, "not a decodable audio file")],
)
def test_unusable_files_get_one_clear_error(tmp_path, content, cause):
    path = tmp_path / "book.mp3"
    path.write_bytes(content)
    with pytest.raises(UnreadableAudioError) as error:
        probe(path)
    assert str(path) in str(error.value) and cause in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".flac", ".mp3"])
def test_truncated_file_is_detected_while_decoding(librivox_book, tmp_path, suffix):
    """FLAC (STREAMINFO) and MP3 (Xing header) announce their length; a cut-off copy is caught."""
    whole = tmp_path / f"whole{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(librivox_book.audio), str(whole)], check=True)
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    announced = probe(truncated).duration
    assert announced == pytest.approx(probe(whole).duration, abs=0.1)  # the header still says all
    with pytest.raises(UnreadableAudioError, match=f"truncated{suffix}"):
        list(stream_pcm(truncated, 16000, expected_duration=announced))


def test_truncated_m4b_cannot_be_opened(sample_book, tmp_path):
    truncated = tmp_path / "truncated.m4b"
    truncated.write_bytes(sample_book.audio.read_bytes()[:100_000])
    with pytest.raises(UnreadableAudioError, match="truncated.m4b"):
        probe(truncated)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "manifest.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.jsonl"]


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    target = tmp_path / "clip.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_cut_never_moves_into_known_speech():
    """A word ending in a stop: voiced part, an 80 ms closure, a 20 ms burst, then silence. A cut
    placed right at the word's end (no padding) is nearest to the closure, and would drop the
    burst there; the long pause after it wins, and the aligned word's end keeps the cut out of the
    word in any case."""
    rate = 24000
    def tone(seconds):
        t = np.arange(int(seconds * rate)) / rate
        return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    silence = lambda seconds: np.zeros(int(seconds * rate), np.float32)  # noqa: E731
    audio = np.concatenate([tone(1.5), silence(0.08), tone(0.02), silence(1.0)])
    word_end = int(1.60 * rate)
    assert quiet_position(audio, word_end, rate) >= word_end  # the pause after the burst
    kept = quiet_position(audio, word_end, rate, not_before=word_end)
    assert word_end <= kept <= word_end + int(0.1 * rate)
