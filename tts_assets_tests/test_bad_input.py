"""Input that used to lose data: keys shared by two books or voices, damaged and multichannel audio,
headers that lie about the length, texts that cannot be spoken, links out of the inbox, long names."""

import json
import subprocess

import dagster as dg
import numpy as np
import pytest
import soundfile as sf
import soxr

from tts_assets.audio.decode import DecodeReport, stream_pcm
from tts_assets.audio.probe import probe
from tts_assets.dataset.aligned import align_voice_dataset
from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.errors import InvalidNameError, KeyCollisionError
from tts_assets.dataset.inbox import scan_inbox
from tts_assets.dataset.keys import claim_voice
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, write_jsonl
from tts_assets.quality.measures import measure
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.sources import BookSource, register_book

from .conftest import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts
from .test_cli import run_cli


@pytest.fixture
def instance(dagster_home):
    with dg.DagsterInstance.get() as instance:
        yield instance


def build(instance, layout, voice, source):
    book = register_book(layout, voice, source)
    book_run, dataset_run = build_book_and_dataset(instance, voice, book)
    assert book_run.success and dataset_run.success
    return book


def summary(layout, voice):
    return json.loads(layout.dataset_summary(voice).read_text())


def test_two_books_with_one_key_keep_both(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    segments = librivox_book.write_segments(tmp_path / "segments.jsonl")
    first, second = tmp_path / "My Book.flac", tmp_path / "other" / "my_book.flac"
    second.parent.mkdir()
    for path in (first, second):
        path.write_bytes(librivox_book.audio.read_bytes())
    keys = [build(instance, layout, "v", BookSource("audiobook", str(p), str(segments))) for p in (first, second)]
    assert keys == ["my_book", "other_my_book"]
    clips = summary(layout, "v")["clips"]
    assert clips == 2 * len(list(read_jsonl(layout.book_clips_manifest("v", "my_book")))) > 0
    # The same file again keeps its key and replaces nothing else.
    assert build(instance, layout, "v", BookSource("audiobook", str(second), str(segments))) == "other_my_book"
    assert summary(layout, "v")["clips"] == clips and summary(layout, "v")["shrunk"] == []
    # A key given explicitly never takes over another source's book.
    with pytest.raises(KeyCollisionError, match="belongs to"):
        register_book(layout, "v", BookSource("audiobook", str(tmp_path / "x.flac")), "my_book")


def test_a_book_that_loses_its_clips_is_recorded_with_why(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    book_file = tmp_path / "book.flac"
    book_file.write_bytes(librivox_book.audio.read_bytes())
    segments = librivox_book.write_segments(tmp_path / "segments.jsonl")
    book = build(instance, layout, "v", BookSource("audiobook", str(book_file), str(segments)))
    before = summary(layout, "v")["clips"]
    book_file.write_bytes(b"not audio at all" * 100)  # replaced by something unusable
    book_run, _ = build_book_and_dataset(instance, "v", book)
    assert not book_run.success
    (shrunk,) = summary(layout, "v")["shrunk"]
    assert shrunk["book"] == book and shrunk["clips_before"] == before and shrunk["clips_now"] == 0
    assert "cannot be used" in shrunk["why"] and str(book_file) in shrunk["why"]


def test_voice_names_with_one_key_are_refused(data_root):
    layout = DataLayout(data_root)
    assert claim_voice(layout, "A B") == "a_b"
    assert claim_voice(layout, "a  b") == "a_b"  # the same name, other case and spacing
    assert claim_voice(layout, "a_b") == "a_b"  # the key itself
    with pytest.raises(KeyCollisionError, match="'a/b' has the key 'a_b' of voice 'A B'"):
        claim_voice(layout, "a/b")


def test_inbox_gives_every_book_its_own_key_and_reports_what_it_skips(data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    voice_dir = data_root / "inbox" / "Jane Doe"
    for name in ("Disc 1/Track 01.mp3", "Disc 2/Track 01.mp3", "My Book.flac", "my_book.flac"):
        (voice_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (voice_dir / name).write_bytes(librivox_book.audio.read_bytes())
    (data_root / "inbox" / "stray.mp3").write_bytes(b"x")
    (data_root / "inbox" / "A B").mkdir()
    (data_root / "inbox" / "a+b").mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "book.flac").write_bytes(librivox_book.audio.read_bytes())
    (tmp_path / "solo.flac").write_bytes(librivox_book.audio.read_bytes())
    (voice_dir / "linked.flac").symlink_to(tmp_path / "solo.flac")
    (voice_dir / "Disc 1" / "again.mp3").symlink_to(voice_dir / "Disc 1" / "Track 01.mp3")
    (voice_dir / "linked_folder").symlink_to(outside, target_is_directory=True)
    (voice_dir / ("x" * 120 + ".flac")).write_bytes(b"x")

    scan = scan_inbox(layout)
    assert sorted(i.book for i in scan.items) == ["disc_1_track_01", "disc_2_track_01", "jane_doe_my_book", "my_book"]
    assert {i.voice for i in scan.items} == {"jane_doe"}
    notes = scan.notes
    assert "put it in inbox/<voice>/" in notes[str(data_root / "inbox" / "stray.mp3")]
    assert "share the key 'a_b'" in notes[str(data_root / "inbox" / "A B")]
    assert "share the key 'a_b'" in notes[str(data_root / "inbox" / "a+b")]
    assert "outside the data root" in notes[str(voice_dir / "linked.flac")]
    assert "outside the data root" in notes[str(voice_dir / "linked_folder" / "book.flac")]
    assert "more than 100" in notes[str(voice_dir / ("x" * 120 + ".flac"))]
    assert "the same file as book 'disc_1_track_01'" in notes[str(voice_dir / "Disc 1" / "again.mp3")]

    allowed = scan_inbox(layout, follow_outside_links=True)
    assert {"linked", "linked_folder_book"} <= {i.book for i in allowed.items}


def test_curated_links_out_of_the_folder_follow_the_same_setting(data_root, tmp_path):
    from tts_assets.dataset.sources import read_curated_transcripts

    clips, elsewhere = tmp_path / "clips", tmp_path / "elsewhere"
    clips.mkdir(), elsewhere.mkdir()
    sf.write(elsewhere / "a.wav", np.zeros(24000, np.float32), 24000)
    (clips / "a.wav").symlink_to(elsewhere / "a.wav")
    transcripts = clips / "transcripts.jsonl"
    transcripts.write_text(json.dumps({"audio_file": "a.wav", "text": "hello"}) + "\n"
                           + json.dumps({"audio_file": "../elsewhere/a.wav", "text": "hello"}) + "\n")
    _, refused = read_curated_transcripts(clips, transcripts, "b")
    assert [r.reason.value for r in refused] == ["path_outside_input", "path_outside_input"]
    accepted, refused = read_curated_transcripts(clips, transcripts, "b", follow_outside_links=True)
    assert [a.line for a in accepted] == [1] and [r.line for r in refused] == [2]  # `../` never


def _damage(source, target, share=None, nbytes=65536):
    """Garbage over `nbytes` (or `share` of the file) in its middle."""
    data = bytearray(source.read_bytes())
    nbytes = int(share * len(data)) if share else nbytes
    start = (len(data) - nbytes) // 2
    data[start : start + nbytes] = np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def test_a_damaged_stretch_loses_only_the_clips_it_touches(instance, data_root, sample_book, tmp_path):
    """64 KB of garbage in the middle of the sample m4b (Piper speech, AAC): once this failed the
    whole book."""
    layout = DataLayout(data_root)
    damaged = _damage(sample_book.audio, tmp_path / "damaged.m4b")
    report = DecodeReport()
    decoded = np.concatenate(list(stream_pcm(damaged, 24000, report=report)))
    clean = np.concatenate(list(stream_pcm(sample_book.audio, 24000)))
    assert report.damaged and len(decoded) == len(clean)  # filled, so later audio keeps its time
    stretches = report.damaged

    segments = sample_book.write_segments(tmp_path / "segments.jsonl")
    build(instance, layout, "clean", BookSource("audiobook", str(sample_book.audio), str(segments)))
    book = build(instance, layout, "joe", BookSource("audiobook", str(damaged), str(segments)))
    rows = list(read_jsonl(layout.train_manifest("joe")))
    rejected = [r for r in read_jsonl(layout.rejections("joe")) if r["reason"] == "damaged_audio"]
    assert rejected and all(any(a < r["end"] + 10 and b > r["start"] - 10 for a, b in stretches) for r in rejected)
    assert not any(a < r["end"] and b > r["start"] for r in rows for a, b in stretches)
    kept_ids = {i for r in rows for i in r["segment_ids"]}
    clean_ids = {i.replace("sample_book", book) for r in read_jsonl(layout.train_manifest("clean")) for i in r["segment_ids"]}
    lost = [s for n, s in enumerate(sample_book.sentences, 1)
            if f"{book}:L{n:06d}" in clean_ids - kept_ids]
    # Only sentences within a clip's reach (10 s) of the damage are lost.
    assert lost and all(any(a - 10 < s["end"] and s["start"] < b + 10 for a, b in stretches) for s in lost)
    assert len(lost) < len(sample_book.sentences) / 3

    after = [r for r in rows if r["start"] > stretches[-1][1] + 1]
    assert after
    for row in after:  # the clips after the damage hold the audio of their own time
        clip, rate = sf.read(layout.dataset_dir("joe") / row["audio_file"], dtype="float32")
        original = clean[round(row["start"] * rate) : round(row["start"] * rate) + len(clip)]
        assert np.corrcoef(clip, original)[0, 1] > 0.99
    wavs = {p.relative_to(layout.dataset_dir("joe")).as_posix() for p in layout.wavs_dir("joe", book).iterdir()}
    assert wavs == {r["audio_file"] for r in rows}  # no orphan clip


def test_a_file_that_is_mostly_damage_is_unreadable(tmp_path, librivox_book):
    from tts_assets.errors import UnreadableAudioError

    m4b = tmp_path / "book.m4b"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(librivox_book.audio), "-c:a", "aac", str(m4b)], check=True)
    wrecked = _damage(m4b, tmp_path / "wrecked.m4b", share=0.7)
    with pytest.raises(UnreadableAudioError, match="could not be decoded"):
        list(stream_pcm(wrecked, 16000))


@pytest.mark.parametrize("channels", [2, 6, 8])
def test_multichannel_audio_is_averaged_not_summed(tmp_path, librivox_book, channels):
    mono, rate = sf.read(librivox_book.audio, dtype="float32")
    high = soxr.resample(mono, rate, 96000).astype(np.float32)
    path = tmp_path / f"{channels}ch.wav"
    sf.write(path, np.tile(high[:, None], (1, channels)), 96000, subtype="PCM_24")
    decoded = np.concatenate(list(stream_pcm(path, 16000)))
    reference = np.concatenate(list(stream_pcm(librivox_book.audio, 16000)))
    assert abs(len(decoded) - len(reference)) <= 16
    n = min(len(decoded), len(reference))
    assert np.abs(decoded).max() == pytest.approx(np.abs(reference).max(), rel=0.02)
    assert np.sqrt(np.mean(decoded[:n] ** 2)) == pytest.approx(np.sqrt(np.mean(reference[:n] ** 2)), rel=0.02)


def test_six_channel_book_gives_unclipped_clips(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    mono, rate = sf.read(librivox_book.audio, dtype="float32")
    path = tmp_path / "surround.wav"
    sf.write(path, np.tile(soxr.resample(mono, rate, 96000)[:, None], (1, 6)), 96000, subtype="PCM_24")
    segments = librivox_book.write_segments(tmp_path / "segments.jsonl")
    build(instance, layout, "v", BookSource("audiobook", str(path), str(segments)))
    rows = list(read_jsonl(layout.train_manifest("v")))
    assert len(rows) == len(librivox_book.sentences)
    for row in rows:
        clip, clip_rate = sf.read(layout.dataset_dir("v") / row["audio_file"], dtype="float32")
        assert measure(clip, clip_rate).clipping == 0 and np.abs(clip).max() < 0.9


def _curated(tmp_path, lines):
    clips = tmp_path / "clips"
    clips.mkdir(exist_ok=True)
    transcripts = clips / "transcripts.jsonl"
    transcripts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return BookSource("curated", str(clips), transcripts_jsonl=str(transcripts))


def test_curated_lengths_are_the_decoded_ones(instance, data_root, tmp_path):
    """A VBR MP3 without a Xing header announces a few seconds and holds a minute: it was kept
    as short and the summary said 'yield 837%'."""
    layout = DataLayout(data_root)
    texts = librivox_transcripts()
    speech, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{LIBRIVOX_IDS[0]}.wav", dtype="float32")
    (tmp_path / "clips").mkdir()
    # Speech then a long silence: the first frames' high bit rate makes the length estimate short.
    sf.write(tmp_path / "long.wav", np.concatenate([speech[: 2 * rate], np.zeros(58 * rate, np.float32)]), rate)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(tmp_path / "long.wav"), "-c:a", "libmp3lame",
                    "-q:a", "0", "-write_xing", "0", str(tmp_path / "clips" / "long.mp3")], check=True)
    assert probe(tmp_path / "clips" / "long.mp3").duration < 10  # the header's claim
    sf.write(tmp_path / "clips" / "good.wav", speech, rate)
    source = _curated(tmp_path, [{"audio_file": "long.mp3", "text": texts[LIBRIVOX_IDS[0]]},
                                 {"audio_file": "good.wav", "text": texts[LIBRIVOX_IDS[0]]},
                                 {"audio_file": "good.wav", "text": "another text"}])
    build(instance, layout, "v", source)
    reasons = {r["line"]: r["reason"] for r in read_jsonl(layout.rejections("v"))}
    assert reasons == {1: "too_long", 3: "duplicate_audio"}
    result = summary(layout, "v")
    assert result["clips"] == 1 and 0 < result["yield"] <= 1
    assert result["hours_in"] * 3600 > 10  # the decoded minute, not the header's seconds


def test_text_that_cannot_be_spoken_in_its_clip_never_reaches_a_model(instance, data_root, tmp_path):
    layout = DataLayout(data_root)
    speech, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{LIBRIVOX_IDS[1]}.wav", dtype="float32")
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", speech[: 3 * rate], rate)
    sf.write(tmp_path / "clips" / "b.wav", speech[: 3 * rate], rate)
    source = _curated(tmp_path, [{"audio_file": "a.wav", "text": "word " * 2_000_000},
                                 {"audio_file": "b.wav", "text": "word " * 100}])
    build(instance, layout, "v", source)
    assert [r["reason"] for r in read_jsonl(layout.rejections("v"))] == ["length_mismatch", "length_mismatch"]

    # A manifest from before this rule (or edited by hand): alignment refuses the row before
    # normalizing or aligning it.
    clip = layout.dataset_dir("v") / "wavs" / "x.wav"
    clip.parent.mkdir(parents=True, exist_ok=True)
    sf.write(clip, speech[: 3 * rate], rate)
    row = {"audio_file": "wavs/x.wav", "text": "word " * 2_000_000, "duration": 3.0, "voice": "v",
           "source": str(clip), "start": None, "end": None, "sample_rate": rate, "book": "clips",
           "segment_ids": ["clips:L000001"]}
    write_jsonl(layout.train_manifest("v"), [row])
    result = align_voice_dataset(layout, "v", DatasetSettings())
    assert result["rejections_by_reason"] == {"length_mismatch": 1}


@pytest.mark.parametrize("command", ["ingest", "ingest-transcript"])
def test_names_too_long_for_a_file_are_refused_with_one_line(tmp_path, librivox_book, command):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "t.jsonl").write_text("")
    args = [str(librivox_book.audio)] if command == "ingest" else [str(clips), str(clips / "t.jsonl")]
    root = ["--data-root", str(tmp_path / "data")]
    result = run_cli(command, *args, "v" * 300, *root)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "more than 100" in result.stderr and "Traceback" not in result.stderr
    if command == "ingest":
        long_book = tmp_path / ("b" * 240 + ".flac")
        long_book.write_bytes(librivox_book.audio.read_bytes())
        result = run_cli("ingest", str(long_book), "v", "--segments-jsonl",
                         str(librivox_book.write_segments(tmp_path / "s.jsonl")), *root)
        assert result.returncode == 2 and "more than 100" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(InvalidNameError):
        claim_voice(DataLayout(tmp_path / "data"), "v" * 300)
