"""One voice, clean audio: a Piper-read book with a real LibriVox reader's sentences inserted, a
music intro, a music bed under one sentence and a noise passage, transcribed by Whisper tiny.en and
built through the book stages. Other voices and music must not reach the clips, the narrator's
clean sentences must."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.mixed_book import RATE, make_mixed_book, music, overlap_seconds
from tts_assets.dataset import book as stages
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.dataset.voice import assemble_voice_dataset
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.manifest.schema import Reason
from tts_assets.purity.judge import sound_rejection
from tts_assets.purity.measure import SegmentSound, music_share, speech_share
from tts_assets.settings import DatasetSettings, SpeakerSettings
from tts_assets_tests.conftest import LIBRIVOX, decoded

VOICE = "narrator"


@pytest.fixture(scope="module")
def built(sample_book, librivox_book, whisper_tiny, tmp_path_factory):
    """The mixed book built to clips, and the LibriVox reader's own book (its known segments) as a
    second book of the same voice."""
    folder = tmp_path_factory.mktemp("speaker_purity")
    chapter_one = [s for s in sample_book.sentences if s["chapter"] == sample_book.sentences[0]["chapter"]][:12]
    book = make_mixed_book(decoded(sample_book.audio, RATE), chapter_one, folder / "mixed.flac")
    layout = DataLayout(folder / "data")
    settings = DatasetSettings()
    settings = settings.model_copy(update={"asr": settings.asr.with_overrides(model=whisper_tiny, language="en")})
    mixed = register_book(layout, VOICE, BookSource("audiobook", str(book.audio)))
    other = register_book(layout, VOICE, BookSource("audiobook", str(librivox_book.audio),
                                                    str(librivox_book.write_segments(folder / "librivox.jsonl"))))
    for key in (mixed, other):
        stages.probe_book(layout, VOICE, key, settings)
        stages.transcribe_book(layout, VOICE, key, settings)
    plans = {key: stages.plan_book(layout, VOICE, key, settings) for key in (mixed, other)}
    summaries = {key: stages.cut_book(layout, VOICE, key, settings.clips, settings.merge) for key in (mixed, other)}
    return layout, settings, book, mixed, other, plans, summaries


def test_other_voice_and_music_stay_out_of_the_clips(built):
    layout, settings, book, mixed, _, plans, summaries = built
    clips = list(read_jsonl(layout.book_clips_manifest(VOICE, mixed)))
    rejections = list(read_jsonl(layout.book_rejections(VOICE, mixed)))
    # The guest's 15 s and the music's 6 s intro + bed: at most a cut's padding of each in the clips.
    assert overlap_seconds(clips, book.truth, "guest") < 0.3
    assert overlap_seconds(clips, book.truth, "music") + overlap_seconds(clips, book.truth, "bed") < 0.3
    # The narrator's clean sentences are kept: no clip was lost to a neighbouring voice.
    narrator = book.seconds("narrator")
    assert overlap_seconds(clips, book.truth, "narrator") / narrator > 0.85
    reasons = [r["reason"] for r in rejections]
    assert reasons.count(Reason.OTHER_SPEAKER.value) >= 3 and Reason.MUSIC.value in reasons
    # Each rejection is a hard break: no clip spans from before a rejected segment to after it.
    for rejection in (r for r in rejections if r["reason"] in (Reason.OTHER_SPEAKER.value, Reason.MUSIC.value)):
        assert not any(c["start"] < rejection["start"] and c["end"] > rejection["end"] for c in clips)
    threshold = settings.speaker.min_similarity
    assert all(c["speaker_similarity"] >= threshold for c in clips)
    # The report: counts per reason, the histogram, the segments nearest the threshold, the picture.
    report = json.loads(layout.speaker_report(VOICE, mixed).read_text())
    assert report == plans[mixed]["speaker"]
    assert report["rejected"][Reason.OTHER_SPEAKER.value] == reasons.count(Reason.OTHER_SPEAKER.value)
    assert sum(report["histogram"]["counts"]) == report["segments_compared"]
    assert len(report["nearest_threshold"]) == min(settings.speaker.nearest_listed, report["segments_compared"])
    assert layout.speaker_histogram(VOICE, mixed).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["voice_share"] > 0.6 and summaries[mixed]["speaker_warning"] is None
    # Accounting: every segment accepted or rejected once.
    accepted = {i for c in clips for i in c["segment_ids"]}
    rejected = [i for r in rejections for i in r["segment_ids"]]
    assert not accepted & set(rejected) and len(rejected) == len(set(rejected))
    assert len(accepted) + len(rejected) == summaries[mixed]["segments_total"]


def test_the_asr_decode_is_measured_as_a_decode_of_its_own_would_be(built):
    """The Whisper-transcribed book was measured from the ASR's audio in another process while it
    transcribed; the book with given segments from a decode of its own. Measured again from a
    decode, the ASR's segments sound the same."""
    from tts_assets.dataset.purity import _as_cached, _load
    from tts_assets.evaluate.speaker import load_embedder
    from tts_assets.purity.measure import measure_segments
    from tts_assets.segments.model import Segment

    layout, settings, book, mixed, other, plans, _ = built
    assert plans[mixed]["speaker"]["measured"]["where"] == "while transcribed"
    assert plans[other]["speaker"]["measured"] == {**plans[other]["speaker"]["measured"], "cached": False,
                                                  "where": "from a decode"}
    segments = [Segment.from_dict(r) for r in read_jsonl(layout.transcript_file(VOICE, mixed))]
    cached = _load(layout.speaker_sounds(VOICE, mixed)).sounds
    again = [_as_cached(s) for s in measure_segments(book.audio, segments, load_embedder(settings.speaker.model))]
    assert [s.segment_id for s in cached] == [s.segment_id for s in again] and len(again) == len(segments)
    for one, other_sound in zip(cached, again):
        assert (one.speech_share, one.music_share, one.damaged) == (other_sound.speech_share, other_sound.music_share,
                                                                    other_sound.damaged)
        assert (one.partials is None) == (other_sound.partials is None)
        if one.partials is not None:
            np.testing.assert_allclose(one.partials, other_sound.partials, atol=2e-3)


def test_a_book_read_by_another_voice_is_reported(built):
    layout, _, _, _, other, _, summaries = built
    summary = summaries[other]
    assert summary["clips"] == 0 and summary["speaker_voice_share"] < 0.2
    assert "another reader" in summary["speaker_warning"]
    report = json.loads(layout.speaker_report(VOICE, other).read_text())
    assert sorted(report["reference"]["books"]) == sorted(layout.books(VOICE))  # the voice is one across books
    voice = assemble_voice_dataset(layout, VOICE)
    assert list(voice["speaker_warnings"]) == [other]
    per_book = [json.loads(layout.speaker_report(VOICE, b).read_text())["rejected"] for b in layout.books(VOICE)]
    assert voice["rejections_by_reason"][Reason.OTHER_SPEAKER.value] == sum(r[Reason.OTHER_SPEAKER.value]
                                                                            for r in per_book)


def test_thresholds_come_from_the_settings_and_rejudge_without_decoding(built):
    layout, settings, book, mixed, _, _, _ = built
    lenient = settings.model_copy(update={"speaker": SpeakerSettings(min_similarity=0.3, max_music_share=1.0)})
    plan = stages.plan_book(layout, VOICE, mixed, lenient)
    assert plan["speaker"]["measured"]["cached"] and plan["speaker"]["measured"]["where"] == "while transcribed"
    assert plan["speaker"]["rejected"][Reason.OTHER_SPEAKER.value] == 0
    assert plan["speaker"]["rejected"][Reason.MUSIC.value] == 0
    spans = list(read_jsonl(layout.merged_file(VOICE, mixed)))
    assert overlap_seconds(spans, book.truth, "guest") > 10  # kept now: the threshold decided
    stages.plan_book(layout, VOICE, mixed, settings)  # leave the module's build as it was


def test_music_and_noise_are_told_from_speech():
    import soundfile as sf
    from faster_whisper.vad import get_vad_model

    speech, rate = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav", dtype="float32")
    assert rate == RATE
    loop = music(len(speech) / RATE, peak=1.0)[:len(speech)]
    bed = speech + loop * 10 ** (-12 / 20) * np.sqrt(np.mean(speech**2) / np.mean(loop**2))
    noise = np.random.default_rng(2).standard_normal(3 * RATE).astype(np.float32) * 0.05
    # The bed 12 dB under real speech: 0.30, three times max_music_share; the speech alone: 0.00.
    assert music_share(speech) < 0.05 < 0.2 < music_share(bed) and music_share(loop) > 0.9
    vad = get_vad_model()
    assert speech_share(speech, vad) > 0.7 and speech_share(noise, vad) < 0.1
    rules = SpeakerSettings()

    def sound(audio):
        return SegmentSound("stretch", 0.0, len(audio) / RATE, None, speech_share(audio, vad), music_share(audio))

    assert sound_rejection(sound(speech), rules) is None
    assert sound_rejection(sound(bed), rules)[0] is Reason.MUSIC
    assert sound_rejection(sound(noise), rules)[0] is Reason.NON_SPEECH


def test_a_failure_in_the_meters_process_is_raised_in_the_caller():
    from tts_assets.errors import EvaluationError
    from tts_assets.purity.measure import MeterProcess

    meter = MeterProcess("/no/such/encoder.pt")
    with pytest.raises(EvaluationError, match="unknown speaker model"):
        meter.finish()
