"""Doubtful ASR transcripts: a word the ASR itself doubts, and a second model that hears otherwise,
on real models and real (synthesized, then degraded) speech of known text."""

import json

import numpy as np
import soundfile as sf

from tts_assets.asr.whisper import packaged_model, packaged_multilingual_model
from tts_assets.dataset import book as book_stages
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.evaluate.measures import word_error_rate
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.manifest.schema import Reason
from tts_assets.sample_book import CHAPTERS, PIPER_RATE, synthesize
from tts_assets.segments.confidence import doubt
from tts_assets.segments.model import Segment, Word
from tts_assets.settings import DatasetSettings


def segment(words: list[tuple[str, float]], verify_text: str | None = None) -> Segment:
    timed = tuple(Word(f" {w}", i * 0.5, i * 0.5 + 0.4, p) for i, (w, p) in enumerate(words))
    return Segment("b:000001", 0.0, len(words) * 0.5, " ".join(w for w, _ in words), timed, verify_text=verify_text)


def test_a_word_the_asr_doubts_rejects_its_segment():
    sure = segment([("Mister", 0.9), ("Bennet", 0.6), ("made", 0.95), ("no", 0.99), ("answer.", 0.97)])
    assert doubt(sure, 0.1, 0.2, "en") is None
    unsure = segment([("Mister", 0.9), ("Bennett", 0.04), ("made", 0.95), ("no", 0.99), ("answer.", 0.97)])
    reason, detail = doubt(unsure, 0.1, 0.2, "en")
    assert reason is Reason.UNCERTAIN_TRANSCRIPT and "'Bennett'" in detail and "0.04" in detail
    assert doubt(unsure, 0.0, 0.2, "en") is None  # 0 turns the check off


def test_a_second_model_confirms_the_same_words_written_otherwise_and_not_other_words():
    words = [("Mister", 0.9), ("Bennet", 0.9), ("paid", 0.9), ("$5", 0.9), ("at", 0.9), ("once.", 0.9)]
    assert doubt(segment(words, "Mr. Bennet paid five dollars at once"), 0.1, 0.2, "en") is None
    reason, detail = doubt(segment(words, "Mister Bennet made no answer"), 0.1, 0.2, "en")
    assert reason is Reason.ASR_DISAGREEMENT and "WER" in detail


def test_segments_a_second_model_hears_otherwise_are_rejected_and_never_merged_over(data_root, tmp_path):
    """Piper speech of known text under heavy noise (0 dB SNR): tiny.en transcribes, the
    multilingual base verifies. What they disagree on is far more often wrong than what they
    agree on, and no clip is planned across a rejected segment."""
    sentences = CHAPTERS[0][1][:10]
    audio, spans = synthesize(sentences)
    noise = np.random.default_rng(0).normal(0, np.sqrt(np.mean(audio**2)), len(audio)).astype(np.float32)
    path = tmp_path / "noisy.wav"
    sf.write(path, np.concatenate([np.zeros(PIPER_RATE // 2, np.float32), audio]) +
             np.concatenate([np.zeros(PIPER_RATE // 2, np.float32), noise]), PIPER_RATE)
    truth = [(start + 0.5, end + 0.5, text) for start, end, text in spans]

    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("audiobook", str(path), asr_model=packaged_model(), language="en",
                                                 verify_asr_model=packaged_multilingual_model()))
    settings = DatasetSettings()
    book_stages.probe_book(layout, "v", book)
    made = book_stages.transcribe_book(layout, "v", book, settings)
    assert made["made_by"].endswith(f"verified by {packaged_multilingual_model()}")
    book_stages.plan_book(layout, "v", book, settings)

    segments = [Segment.from_dict(r) for r in read_jsonl(layout.transcript_file("v", book))]
    assert all(s.verify_text is not None for s in segments)
    rejected = {i: r for r in read_jsonl(layout.merge_rejections("v", book)) for i in r["segment_ids"]}

    def truth_wer(s: Segment) -> float:
        said = " ".join(text for start, end, text in truth if end > s.start and start < s.end)
        return word_error_rate([said], [s.text])

    disagreed = [truth_wer(s) for s in segments if rejected.get(s.id, {}).get("reason") == "asr_disagreement"]
    kept = [truth_wer(s) for s in segments if s.id not in rejected]
    assert disagreed and kept, json.dumps(list(rejected.values()), indent=1)
    assert np.mean(disagreed) > 2 * np.mean(kept)
    doubted = [s for s in segments if s.id in rejected and rejected[s.id]["reason"] in ("asr_disagreement",
                                                                                         "uncertain_transcript")]
    for span in read_jsonl(layout.merged_file("v", book)):
        assert not any(span["start"] < s.end and s.start < span["end"] for s in doubted)
