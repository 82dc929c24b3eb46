"""No usable speech thrown away (issue 17): short sentences merged across longer pauses or kept
above the floor, long curated clips split at their aligned pauses, every input accounted for."""

import json

import dagster as dg
import numpy as np
import pytest
import soundfile as sf

from tts_assets.aligners.base import AlignedWord
from tts_assets.dataset.aligned import align_voice_dataset
from tts_assets.dataset.aligned_checks import accounting
from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.manifest.schema import Reason
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.segments.merge import plan_spans
from tts_assets.segments.model import Segment, Word
from tts_assets.segments.split_aligned import split_points, text_parts
from tts_assets.settings import DatasetSettings, MergeRules
from tts_assets.text.normalize import spoken_words

from .conftest import LIBRIVOX, LIBRIVOX_IDS, wer


def seg(seg_id, start, end):
    return Segment(seg_id, start, end, seg_id, (Word(f" {seg_id}", start, end),))


def test_a_short_span_merges_across_a_longer_pause_but_not_a_break_or_a_long_one():
    rules = MergeRules()
    plan = plan_spans([seg("a", 0.0, 1.6), seg("b", 2.4, 5.0), seg("c", 6.2, 7.6), seg("d", 9.0, 9.6)], rules)
    # a (1.6 s) joins b across 0.8 s, the pause inside the clip; c (1.4 s) stands alone 1.2 s
    # from b and 1.4 s from d: kept above the 1.0 s floor; d (0.6 s) cannot be merged: too_short.
    assert [s.segment_ids for s in plan.spans] == [["a", "b"], ["c"]]
    assert (plan.spans[0].start, plan.spans[0].end) == (0.0, 5.0)
    assert [(r.segment_ids, r.reason) for r in plan.rejections] == [(["d"], Reason.TOO_SHORT)]
    broken = plan_spans([seg("a", 0.0, 1.6), seg("b", 2.4, 5.0)], rules, hard_breaks=[2.0])
    assert [s.segment_ids for s in broken.spans] == [["a"], ["b"]]
    unsaid = Segment("e", 1.8, 2.2, " ")  # speech with no text between them
    assert [s.segment_ids for s in plan_spans([seg("a", 0.0, 1.6), unsaid, seg("b", 2.4, 5.0)], rules).spans] == [
        ["a"], ["b"]]
    seed = plan_spans([seg("a", 0.0, 1.6), seg("b", 2.4, 5.0)], MergeRules(max_short_merge_gap_s=0.5, min_clip_s=2.0))
    assert [s.segment_ids for s in seed.spans] == [["b"]]


def test_merge_rules_refuse_limits_out_of_order():
    with pytest.raises(ValueError, match="max_short_merge_gap_s"):
        MergeRules(max_gap_s=1.5)
    with pytest.raises(ValueError, match="max_curated_clip_s"):
        MergeRules(max_clip_s=90.0)


def words_of(text, start=0.0, length=0.35, gap=0.05, pauses=None):
    """Aligned words for `text`'s spoken words; `pauses` maps a word index to the pause before it."""
    out, t = [], start
    for i, word in enumerate(spoken_words(text)):
        t += (pauses or {}).get(i, gap if i else 0.0)
        out.append(AlignedWord(word, round(t, 3), round(t + length, 3), 0.5))
        t += length
    return out


def test_split_prefers_a_sentence_end_to_a_longer_pause_inside_a_sentence():
    text = "One two three four five six seven eight nine ten eleven twelve. Thirteen fourteen, " \
           "fifteen sixteen seventeen eighteen nineteen twenty twenty one twenty two twenty three!"
    words = words_of(text, pauses={5: 0.6, 12: 0.3})  # 11.6 s; a longer pause mid-sentence before "six"
    points = split_points(text, words, MergeRules())
    assert points == [12]
    first, second = text_parts(text, [12, len(words) - 12])
    assert first.endswith("twelve.") and second.startswith("Thirteen fourteen,") and second.endswith("three!")
    # Without a sentence end the longest pause wins; with no pause long enough, no split.
    assert split_points(text.replace(".", ""), words, MergeRules()) == [5]
    assert split_points(text, words_of(text, gap=0.05), MergeRules(min_split_pause_s=0.2)) is None


def synthesized_book(path, sentences_and_pauses):
    """One Piper reading of the sentences, laid out with the pause given after each."""
    from tts_assets.sample_book import PIPER_RATE, synthesize

    audio, spans = synthesize([s for s, _ in sentences_and_pauses], pause_s=0.0)
    parts, segments, position = [np.zeros(PIPER_RATE // 2, np.float32)], [], 0.5
    for (start, end, text), (_, pause) in zip(spans, sentences_and_pauses):
        speech = audio[round(start * PIPER_RATE): round(end * PIPER_RATE)]
        segments.append({"start": round(position, 3), "end": round(position + len(speech) / PIPER_RATE, 3), "text": text})
        parts += [speech, np.zeros(round(pause * PIPER_RATE), np.float32)]
        position += len(speech) / PIPER_RATE + pause
    sf.write(path, np.concatenate(parts), PIPER_RATE)
    return segments


def test_short_isolated_sentences_are_kept_and_merged_through_the_aligned_stage(tmp_path, data_root, dagster_home):
    said = [
        ("Mister Bennet made no answer.", 0.8),  # 1.8 s, then 0.8 s: joins the next sentence (1.96 s)
        ("Do you not want to know who has taken it?", 1.5),
        ("This was invitation enough.", 1.5),  # 1.7 s, 1.5 s from both neighbours: kept alone
        ("Yes.", 1.5),  # 0.6 s alone: too_short
        ("What a fine thing for our girls!", 0.5),  # 1.6 s alone: kept
    ]
    audio = tmp_path / "short.flac"
    segments = synthesized_book(audio, said)
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(s) + "\n" for s in segments))
    layout = DataLayout(data_root)
    book = register_book(layout, "joe", BookSource("audiobook", str(audio), str(tmp_path / "s.jsonl")))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "joe", book)
        run = run_voice_job(instance, "align_voice", "joe")
    assert run.success
    assert all(e.passed for e in run.get_asset_check_evaluations())
    texts = [s for s, _ in said]
    rows = list(read_jsonl(layout.aligned_manifest("joe")))
    assert [spoken_words(r["text"]) for r in rows] == [
        spoken_words(f"{texts[0]} {texts[1]}"), spoken_words(texts[2]), spoken_words(texts[4])]
    assert [r["reason"] for r in read_jsonl(layout.rejections("joe"))] == ["too_short"]
    assert not list(read_jsonl(layout.aligned_rejections("joe")))
    merged, *alone = rows
    pause = next(b["start"] - a["end"] for a, b in zip(merged["words"], merged["words"][1:]) if a["word"] == "answer")
    assert pause > 0.7  # the 0.8 s pause stays inside the clip
    assert all(1.0 <= r["duration"] < 2.0 for r in alone)


@pytest.fixture(scope="module")
def long_curated_clip(tmp_path_factory):
    """The five LibriVox clips back to back (24.7 s of one reader) as one curated clip, with the
    book's punctuation; the sentences start where clips 0870, 0880, 0920 and 0930 start."""
    folder = tmp_path_factory.mktemp("long_curated")
    audio = [sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{i}.wav", dtype="float32") for i in LIBRIVOX_IDS]
    sf.write(folder / "long.wav", np.concatenate([a for a, _ in audio]), audio[0][1])
    sentences = [
        "And Mister John Dashwood had then leisure to consider how much there might be prudently in his power "
        "to do for them.",
        "He was not an ill disposed young man, unless to be rather cold hearted and rather selfish is to be "
        "ill disposed.",
        "Had he married a more a amiable woman, he might have been made still more respectable than he was.",
        "He might even have been made amiable himself.",
    ]
    (folder / "transcripts.jsonl").write_text(json.dumps({"audio_file": "long.wav", "text": " ".join(sentences)}) + "\n")
    return folder, sentences


def test_a_long_curated_clip_is_split_at_its_sentence_ends(long_curated_clip, data_root, dagster_home, whisper_tiny):
    from faster_whisper import WhisperModel

    folder, sentences = long_curated_clip
    layout = DataLayout(data_root)
    book = register_book(layout, "anna", BookSource("curated", str(folder), transcripts_jsonl=str(folder / "transcripts.jsonl")))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "anna", book)
        run = run_voice_job(instance, "align_voice", "anna")
    assert run.success
    assert all(e.passed for e in run.get_asset_check_evaluations()), run.get_asset_check_evaluations()
    [clip] = read_jsonl(layout.train_manifest("anna"))
    assert clip["duration"] > 22
    rows = sorted(read_jsonl(layout.aligned_manifest("anna")), key=lambda r: r["part"])
    assert not list(read_jsonl(layout.aligned_rejections("anna")))
    assert len(rows) >= 3 and [r["part"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["parts"] for r in rows} == {len(rows)}
    # Each part is whole sentences, with the book's punctuation, and nothing is lost or doubled.
    assert " ".join(r["text"] for r in rows) == " ".join(sentences)
    assert all(r["text"].endswith(".") and any(r["text"].startswith(s) for s in sentences) for r in rows)
    assert all(1.0 <= r["duration"] <= 10.3 for r in rows)
    # Whisper hears in each part's audio the words of its text.
    model = WhisperModel(whisper_tiny, device="cpu", compute_type="int8", cpu_threads=2)
    for row in rows:
        heard, _ = model.transcribe(str(layout.dataset_dir("anna") / row["audio_file"]), language="en", beam_size=1)
        assert wer(row["text"], " ".join(s.text for s in heard)) < 0.25, row["text"]
    # Identities are the clip's, numbered: the same on a rebuild.
    stem = clip["audio_file"].rsplit("/", 1)[1].removesuffix(".wav")
    assert [r["audio_file"].rsplit("/", 1)[1] for r in rows] == [f"{stem}_p{k}.wav" for k in range(1, len(rows) + 1)]
    assert [r["segment_ids"] for r in rows] == [[f"{clip['segment_ids'][0]}#{k}"] for k in range(1, len(rows) + 1)]
    align_voice_dataset(layout, "anna", DatasetSettings())
    again = sorted(read_jsonl(layout.aligned_manifest("anna")), key=lambda r: r["part"])
    assert [(r["audio_file"], r["segment_ids"], r["text"]) for r in again] == [
        (r["audio_file"], r["segment_ids"], r["text"]) for r in rows]


def test_accounting_wants_every_part_once():
    """The aligned accounting check on hand-made manifests: a part missing or doubled fails it."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp))
        dataset = layout.dataset_dir("v")
        dataset.mkdir(parents=True)

        def write(path, rows):
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))

        write(layout.train_manifest("v"), [{"audio_file": "a.wav"}, {"audio_file": "b.wav"}])
        kept = [{"source_clip": "a.wav", "part": None, "parts": None},
                {"source_clip": "b.wav", "part": 1, "parts": 3}, {"source_clip": "b.wav", "part": 3, "parts": 3}]
        write(layout.aligned_manifest("v"), kept)
        write(layout.aligned_rejections("v"), [{"audio_file": "b.wav", "part": 2, "parts": 3}])
        assert accounting(layout, "v")[0]
        write(layout.aligned_rejections("v"), [])
        passed, detail = accounting(layout, "v")
        assert not passed and "missing parts" in detail
        write(layout.aligned_rejections("v"), [{"audio_file": "b.wav", "part": 3, "parts": 3}])
        assert not accounting(layout, "v")[0]
