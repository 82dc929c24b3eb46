"""The aligned dataset through Dagster: refined cuts, each quality filter on crafted real speech,
the split's stability, and the checks."""

import json
import subprocess

import dagster as dg
import numpy as np
import pytest
import soundfile as sf

from tts_assets.dataset.aligned import _speaking_rate_outliers, split_of
from tts_assets.dataset.finishing import trimmed_rejection
from tts_assets.quality.measures import measure
from tts_assets.aligners.base import AlignedWord
from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.manifest.schema import Reason
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.sources import BookSource, register_book

from .conftest import LIBRIVOX, librivox_transcripts, speech_bounds


def clip(clip_id):
    return sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")


@pytest.fixture
def crafted_clips(tmp_path):
    """Real LibriVox speech, clean and spoiled in known ways, with the right (or a wrong) text."""
    texts = librivox_transcripts()
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = []

    def add(name, audio, rate, text):
        sf.write(folder / f"{name}.wav", audio, rate)
        lines.append(json.dumps({"audio_file": f"{name}.wav", "text": text}))

    for clip_id in ["0870", "0880", "0890", "0930"]:
        audio, rate = clip(clip_id)
        add(f"clean_{clip_id}", audio, rate, texts[clip_id])
    audio, rate = clip("0920")
    add("clipped", np.clip(audio * 30, -1, 1), rate, texts["0920"])
    audio, rate = clip("0930")
    noise = np.random.default_rng(0).normal(0, 0.05, len(audio)).astype(np.float32)
    add("noisy", audio + noise, rate, texts["0930"])
    audio, rate = clip("0880")
    middle = len(audio) // 2
    gap = np.zeros(5 * rate, dtype=np.float32)
    add("silence_inside", np.concatenate([audio[:middle], gap, audio[middle:]]), rate, texts["0880"])
    audio, rate = clip("0920")
    add("symbol_left", audio, rate, texts["0920"] + " (see ∞)")  # a symbol NeMo leaves unread
    audio, rate = clip("0890")
    add("wrong_text", audio, rate, "the quick brown fox jumps over the lazy dog while it rains in spain")
    slow = folder / "slow.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"),
                    "-filter:a", "atempo=0.6", str(slow)], check=True)
    lines.append(json.dumps({"audio_file": "slow.wav", "text": texts["0880"]}))
    transcripts = tmp_path / "transcripts.jsonl"
    transcripts.write_text("\n".join(lines) + "\n")
    return folder, transcripts


def test_each_filter_rejects_its_clip_and_the_clean_ones_stay(crafted_clips, data_root, dagster_home):
    folder, transcripts = crafted_clips
    layout = DataLayout(data_root)
    book = register_book(layout, "anna", BookSource("curated", str(folder), transcripts_jsonl=str(transcripts)))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "anna", book)
        run = run_voice_job(instance, "align_voice", "anna")
    assert run.success
    assert {e.asset_check_key.name: e.passed for e in run.get_asset_check_evaluations()} == {
        "aligned_accounting": True, "aligned_words_cover_text": True, "aligned_durations_in_bounds": True,
    }
    names = {json.loads(line)["audio_file"]: i + 1 for i, line in enumerate(transcripts.read_text().splitlines())}
    by_line = {int(r["source_clip"].rsplit("_L", 1)[1][:6]): r for r in read_jsonl(layout.aligned_manifest("anna"))}
    rejected = {
        int(r["audio_file"].rsplit("_L", 1)[1][:6]): r["reason"] for r in read_jsonl(layout.aligned_rejections("anna"))
    }
    assert sorted(by_line) == [names[f"clean_{i}.wav"] for i in ["0870", "0880", "0890", "0930"]]
    assert rejected.pop(names["wrong_text.wav"]) in ("align_failed", "low_align_score")
    assert rejected == {
        names["clipped.wav"]: "clipping",
        names["noisy.wav"]: "low_snr",
        names["silence_inside.wav"]: "too_much_silence",
        names["slow.wav"]: "speaking_rate_outlier",
        names["symbol_left.wav"]: "unspoken_text",
    }
    for row in by_line.values():
        audio, rate = sf.read(layout.dataset_dir("anna") / row["audio_file"])
        assert rate == 24000 and len(audio) / rate == pytest.approx(row["duration"], abs=1e-3)
        # Trimmed to the words plus about 0.15 s of padding (cuts may move into a nearby pause).
        assert 0.0 <= row["words"][0]["start"] <= 0.3
        assert 0.0 <= row["duration"] - row["words"][-1]["end"] <= 0.35
        assert row["align_score"] > 0.2 and row["text_original"]
        assert row["split"] in ("train", "val")


@pytest.mark.parametrize("backend", ["pocketsphinx", "whisper"])
def test_aligned_audiobook_clips_are_re_cut_from_the_book(data_root, dagster_home, sample_book, tmp_path, monkeypatch,
                                                          backend):
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"dataset:\n  align:\n    backend: {backend}\n")
    monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings))
    layout = DataLayout(data_root)
    segments = tmp_path / "s.jsonl"
    sample_book.write_segments(segments)
    book = register_book(layout, "joe", BookSource("audiobook", str(sample_book.audio), str(segments)))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "joe", book)
        assert run_voice_job(instance, "align_voice", "joe").success
    rows = list(read_jsonl(layout.aligned_manifest("joe")))
    clips = list(read_jsonl(layout.train_manifest("joe")))
    rejected = [(r["reason"], r.get("detail"), r.get("text")) for r in read_jsonl(layout.aligned_rejections("joe"))]
    assert len(rows) >= len(clips) - 2, rejected
    for row in rows:
        # Word times in the book: the first word starts where the sentence's speech starts.
        sentence = next(s for s in sample_book.sentences if s["start"] - 0.5 <= row["start"] <= s["start"] + 0.5)
        # A short sentence joins its neighbour across the 0.6 s pause: the clip ends with the last one's speech.
        last = next(s for s in sample_book.sentences if s["start"] <= row["start"] + row["words"][-1]["end"] <= s["end"] + 0.3)
        onset, _ = speech_bounds(sample_book.audio, sentence["start"], sentence["end"], threshold=0.03)
        _, offset = speech_bounds(sample_book.audio, last["start"], last["end"], threshold=0.03)
        assert onset - 0.12 <= row["start"] + row["words"][0]["start"] <= onset + 0.12
        assert offset - 0.05 <= row["start"] + row["words"][-1]["end"] <= offset + 0.25
        assert row["start"] <= max(0.0, onset - 0.05) and row["end"] >= offset + 0.05  # padded


def test_split_is_stable_when_a_book_is_added(data_root, dagster_home, librivox_book, tmp_path, monkeypatch):
    settings = tmp_path / "settings.yaml"
    settings.write_text("dataset:\n  quality:\n    val_fraction: 0.5\n    min_snr_db: 0\n")
    monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings))
    layout = DataLayout(data_root)
    segments = tmp_path / "s.jsonl"
    librivox_book.write_segments(segments)
    with dg.DagsterInstance.get() as instance:
        register_book(layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)), "one")
        build_book_and_dataset(instance, "v", "one")
        run_voice_job(instance, "align_voice", "v")
        first = {r["source_clip"]: r["split"] for r in read_jsonl(layout.aligned_manifest("v"))}
        register_book(layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)), "two")
        build_book_and_dataset(instance, "v", "two")
        run_voice_job(instance, "align_voice", "v")
        second = {r["source_clip"]: r["split"] for r in read_jsonl(layout.aligned_manifest("v"))}
    assert len(first) == 5 and len(second) == 10
    assert {k: second[k] for k in first} == first
    assert set(second.values()) == {"train", "val"}


def test_split_of_depends_only_on_the_clip():
    row = {"book": "b", "segment_ids": ["b:000001", "b:000002"]}
    assert split_of(row, 0.0) == "train" and split_of(row, 1.0) == "val"
    shares = [split_of({"book": "b", "segment_ids": [str(i)]}, 0.1) for i in range(2000)]
    assert 0.07 < shares.count("val") / len(shares) < 0.13


def test_length_mismatch_and_cut_inside_word():
    settings = DatasetSettings()
    rate = 16000
    t = np.arange(3 * rate) / rate
    audio = (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    words = [AlignedWord("a", 0.1, 2.9, 0.5)]
    duration, silence = len(audio) / rate, measure(audio, rate).silence
    reason, detail = trimmed_rejection(words, duration, silence, settings, chars=200)
    assert reason is Reason.LENGTH_MISMATCH and "characters/s" in detail
    reason, _ = trimmed_rejection([AlignedWord("a", 0.1, 3.5, 0.5)], duration, silence, settings, chars=40)
    assert reason is Reason.CUT_INSIDE_WORD


def test_speaking_rate_outliers_by_iqr():
    rows = [{"seconds_per_char": v} for v in [0.060, 0.062, 0.058, 0.061, 0.059, 0.120, 0.030]]
    assert sorted(_speaking_rate_outliers(rows, 1.5)) == [5, 6]


def test_loudness_normalization_of_kept_clips(tmp_path, data_root, dagster_home, monkeypatch):
    texts = librivox_transcripts()
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = []
    for clip_id, gain in [("0870", 0.3), ("0920", 1.0)]:
        audio, rate = clip(clip_id)
        sf.write(folder / f"{clip_id}.wav", audio * gain, rate)
        lines.append(json.dumps({"audio_file": f"{clip_id}.wav", "text": texts[clip_id]}))
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text("dataset:\n  quality:\n    loudness_lufs: -20\n")
    monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings))
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("curated", str(folder), transcripts_jsonl=str(tmp_path / "t.jsonl")))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "v", book)
        assert run_voice_job(instance, "align_voice", "v").success
    rows = list(read_jsonl(layout.aligned_manifest("v")))
    assert len(rows) == 2
    assert [r["quality_loudness_lufs"] for r in rows] == pytest.approx([-20.0, -20.0], abs=0.5)


def test_whisperx_backend_through_the_pipeline(tiny_wav2vec2, data_root, dagster_home, librivox_book, tmp_path, monkeypatch):
    """Wiring only: random weights align nonsense, so the score bar is off for this run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"dataset:\n  align:\n    wav2vec2_model: {tiny_wav2vec2}\n  quality:\n    min_align_score: 0\n"
        "    rate_iqr_k: 100\n"
    )
    monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings))
    layout = DataLayout(data_root)
    segments = tmp_path / "s.jsonl"
    librivox_book.write_segments(segments)
    book = register_book(layout, "w", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "w", book)
        run = run_voice_job(instance, "align_voice", "w")
    assert run.success
    summary = json.loads(layout.aligned_summary("w").read_text())
    assert summary["aligner"] == "whisperx" and summary["clips_kept"] + summary["clips_rejected"] == 5
    # Every clip got word times (random weights bunch them up, so trimming then rejects clips).
    reasons = [r["reason"] for r in read_jsonl(layout.aligned_rejections("w"))]
    assert "align_failed" not in reasons and "unreadable_audio" not in reasons


def test_an_unreadable_clip_is_rejected_and_the_others_aligned(tmp_path, data_root, dagster_home):
    texts = librivox_transcripts()
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = []
    for clip_id in ["0870", "0880", "0890"]:
        audio, rate = clip(clip_id)
        sf.write(folder / f"{clip_id}.wav", audio, rate)
        lines.append(json.dumps({"audio_file": f"{clip_id}.wav", "text": texts[clip_id]}))
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("curated", str(folder), transcripts_jsonl=str(tmp_path / "t.jsonl")))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "v", book)
        damaged = next(read_jsonl(layout.train_manifest("v")))["audio_file"]
        (layout.dataset_dir("v") / damaged).write_bytes(b"not a wav any more")  # e.g. a disk error
        run = run_voice_job(instance, "align_voice", "v")
    assert run.success
    assert {e.asset_check_key.name: e.passed for e in run.get_asset_check_evaluations()}["aligned_accounting"]
    [rejection] = read_jsonl(layout.aligned_rejections("v"))
    assert (rejection["audio_file"], rejection["reason"]) == (damaged, "unreadable_audio")
    assert damaged in rejection["detail"] and "Format not recognised" in rejection["detail"]
    assert len(list(read_jsonl(layout.aligned_manifest("v")))) == 2


@pytest.mark.parametrize(
    "said, written",
    [
        ("It cost five fifty.", "It cost $5.50."),
        ("It cost five dollars and fifty cents.", "It cost $5.50."),
        ("In eighteen sixty five they came.", "In 1865 they came."),
        ("In one thousand eight hundred sixty five they came.", "In 1865 they came."),
    ],
)
def test_the_audio_chooses_how_a_written_number_is_read(said, written, tmp_path):
    """Piper says one reading of the written text; of NeMo's readings the aligner scores that one best."""
    from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
    from tts_assets.dataset.aligned import _align_clip
    from tts_assets.sample_book import PIPER_RATE, synthesize
    from tts_assets.text.normalize import spoken_words

    audio, _ = synthesize([said])
    sf.write(tmp_path / "clip.wav", audio, PIPER_RATE)
    row = {"audio_file": "clip.wav", "text": written, "duration": len(audio) / PIPER_RATE, "start": None,
           "end": None, "book": "b", "source": str(tmp_path / "clip.wav"), "segment_ids": ["s1"]}
    aligned = _align_clip(row, tmp_path, PocketsphinxAligner(), DatasetSettings(), DataLayout(tmp_path), "v")
    assert not isinstance(aligned, dict), aligned
    assert spoken_words(aligned.text) == spoken_words(said)
    assert aligned.readings > 1


def test_the_finishing_gets_each_sources_cuts_in_the_order_of_their_starts(tmp_path):
    """Rows come by start; a cut may start up to the padding before its row, so before the cut of
    the row ahead of it: each candidate goes as soon as no later row can start a cut before it."""
    from tts_assets.audio.cut import CutRequest
    from tts_assets.dataset.finishing import Candidate, in_start_order

    def candidate(row_start: float, cut_start: float) -> Candidate:
        return Candidate({"start": row_start}, "", [], 0.9, CutRequest(cut_start, cut_start + 2, tmp_path / "c.wav"),
                         1, "pocketsphinx", "")

    rows = [candidate(0.0, 1.8), candidate(2.0, 1.9), candidate(4.0, 4.1), candidate(6.0, 5.9)]
    released = []

    def arriving():
        for c in rows:
            yield c
            released.append(len(ordered))

    ordered = []
    for c in in_start_order(arriving(), pad_s=0.2):
        ordered.append(c)
    assert [c.request.start for c in ordered] == [1.8, 1.9, 4.1, 5.9]
    # Each cut went once the next row had come (asked for the row after row k, k cuts had gone):
    # the 1.8 s cut waited for the row at 2.0 s, whose cut (1.9 s) could have started before it.
    assert released == [0, 1, 2, 3]


def test_a_failure_in_the_finishing_process_is_raised_in_the_caller(tmp_path):
    """The finishing runs in a process of its own: what fails there fails the build, here, with its
    own type and message (a clip that cannot be written: a file stands where its folder should be)."""
    from tts_assets.audio.cut import CutRequest
    from tts_assets.dataset.decisions import ReviewDecisions
    from tts_assets.dataset.finishing import Candidate, finishing_process

    source = str(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0920.wav")
    row = {"source": source, "start": None, "end": None, "text": "x", "book": "b", "segment_ids": ["b:1"],
           "audio_file": "wavs/b/x.wav", "duration": 5.0}
    words = [AlignedWord("x", 0.5, 1.0, 0.9)]
    (tmp_path / "blocked").write_text("not a folder")
    candidate = Candidate(row, "x", words, 0.9, CutRequest(0.4, 1.1, tmp_path / "blocked" / "x.wav", 0.5, 1.0),
                          1, "pocketsphinx", "")
    with finishing_process(tmp_path, DatasetSettings(), ReviewDecisions(), None) as finishing:
        finishing.put([candidate])
        with pytest.raises(OSError, match="blocked"):
            finishing.result()


def test_every_candidate_of_a_source_that_cannot_be_read_is_rejected(tmp_path):
    """Also those the finishing held back for their turn (cuts that start before the next row)."""
    from tts_assets.audio.cut import CutRequest
    from tts_assets.dataset.decisions import ReviewDecisions
    from tts_assets.dataset.finishing import Candidate, _Finisher

    source = tmp_path / "book.mp3"
    source.write_bytes(b"not audio at all" * 100)

    def candidate(row_start: float, cut_start: float, name: str) -> Candidate:
        row = {"source": str(source), "start": row_start, "end": row_start + 3, "text": name, "book": "b",
               "segment_ids": [f"b:{name}"], "audio_file": f"wavs/b/{name}.wav"}
        return Candidate(row, name, [], 0.9, CutRequest(cut_start, cut_start + 2, tmp_path / f"{name}.wav"),
                         1, "pocketsphinx", "")

    finisher = _Finisher(tmp_path, DatasetSettings(), ReviewDecisions(), None)
    finisher.run(iter([candidate(0.0, 0.1, "a"), candidate(3.0, 2.95, "b"), candidate(6.0, 6.2, "c")]))
    rejected = finisher.finished.rejections
    assert sorted(r["text"] for r in rejected) == ["a", "b", "c"]
    assert {r["reason"] for r in rejected} == {Reason.UNREADABLE_AUDIO.value}
    assert all(str(source) in r["detail"] for r in rejected) and not finisher.finished.kept
