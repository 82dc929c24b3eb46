"""Forced alignment on real speech: pocketsphinx and Whisper accuracy, WhisperX wiring offline."""

import pytest
import soundfile as sf

from bench.librivox import joined_with_gaps
from tts_assets.aligners.base import AlignmentError, clip_score
from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
from tts_assets.text.normalize import normalize_text, spoken_words

from .conftest import LIBRIVOX, librivox_transcripts

GAPS_S = [0.3, 0.8, 0.5, 1.2]


@pytest.fixture(scope="module")
def joined_with_known_gaps():
    """The five LibriVox clips joined with different gaps; returns audio, words per clip, joins."""
    return joined_with_gaps(GAPS_S)


def test_pocketsphinx_finds_every_known_cut_within_50_ms(joined_with_known_gaps):
    audio, words_per_clip, joins = joined_with_known_gaps
    aligned = PocketsphinxAligner().align(audio, [w for ws in words_per_clip for w in ws])
    index = 0
    for (join, gap), words in zip(joins, words_per_clip):
        index += len(words)
        last_of_clip, first_of_next = aligned[index - 1], aligned[index]
        # The inserted silence [join, join + gap] lies inside the pause the aligner found.
        assert last_of_clip.end <= join + 0.05, (last_of_clip, join)
        assert first_of_next.start >= join + gap - 0.05, (first_of_next, join + gap)
    assert clip_score(aligned) > 0.2


def test_pocketsphinx_scores_a_wrong_text_low(librivox_book):
    audio, _ = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav", dtype="float32")
    aligner = PocketsphinxAligner()
    right = clip_score(aligner.align(audio, librivox_transcripts()["0870"].split()))
    try:
        wrong = clip_score(aligner.align(audio, "the quick brown fox jumps over the lazy dog".split()))
    except AlignmentError:
        wrong = 0.0
    assert right > 0.2 and wrong < 0.05


def test_pocketsphinx_handles_words_missing_from_its_dictionary():
    """"Netherfield" and "Michaelmas" are not in CMUdict: a guessed pronunciation aligns them."""
    import soxr

    from tts_assets.sample_book import PIPER_RATE, synthesize

    text = "He is to take possession of Netherfield before Michaelmas."
    audio, _ = synthesize([text])
    words = spoken_words(text)
    aligned = PocketsphinxAligner().align(soxr.resample(audio, PIPER_RATE, 16000), words)
    assert [w.word for w in aligned] == words
    assert clip_score(aligned) > 0.1


def test_pocketsphinx_aligns_accented_spellings_as_their_ascii_letters():
    """CMUdict spells in ASCII: "disposèd" (a poet's accent) aligns as "disposed", where the plain
    transcript's word lies, and keeps its own spelling in the result."""
    audio, _ = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0890.wav", dtype="float32")
    words = spoken_words(normalize_text("Unless to be rather cold-hearted and rather selfish is to be ill-disposèd."))
    assert words[-1] == "disposèd"
    aligner = PocketsphinxAligner()
    accented = aligner.align(audio, words)
    plain = aligner.align(audio, librivox_transcripts()["0890"].split())
    assert [w.word for w in accented] == words
    assert [(w.start, w.end, w.score) for w in accented] == [(w.start, w.end, w.score) for w in plain]
    assert clip_score(accented) > 0.2


@pytest.fixture(scope="module")
def whisper_aligner():
    from tts_assets.aligners.whisper_backend import WhisperAligner

    return WhisperAligner(None, "en", "cpu")  # the packaged tiny.en: offline


def test_whisper_aligner_places_every_known_cut(joined_with_known_gaps, whisper_aligner):
    """Two neighbouring LibriVox clips at a time (Whisper hears 30 s): the inserted silence lies
    in the pause between the words Whisper's path gives, narrowed to their sound."""
    audio, words_per_clip, joins = joined_with_known_gaps
    starts = [0.0] + [join + gap for join, gap in joins]
    for k, (join, gap) in enumerate(joins):
        begin = int(starts[k] * 16000)
        end = int(joins[k + 1][0] * 16000) if k + 1 < len(joins) else len(audio)
        aligned = whisper_aligner.align(audio[begin:end], words_per_clip[k] + words_per_clip[k + 1])
        offset = begin / 16000
        last_of_clip, first_of_next = aligned[len(words_per_clip[k]) - 1], aligned[len(words_per_clip[k])]
        assert last_of_clip.end + offset <= join + 0.05, (last_of_clip, join)
        assert join + gap - 0.05 <= first_of_next.start + offset <= join + gap + 0.25, (first_of_next, join + gap)
        assert [w.word for w in aligned] == words_per_clip[k] + words_per_clip[k + 1]
        assert clip_score(aligned) > 0.3


def test_whisper_aligner_scores_a_wrong_text_low(whisper_aligner):
    audio, _ = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav", dtype="float32")
    right = clip_score(whisper_aligner.align(audio, librivox_transcripts()["0870"].split()))
    wrong = clip_score(whisper_aligner.align(audio, "the quick brown fox jumps over the lazy dog".split()))
    assert right > 0.3 and wrong < 0.05


def test_the_whisper_backend_is_chosen_by_its_name_and_refuses_an_english_model_for_french():
    from tts_assets.dataset.aligned import make_aligner
    from tts_assets.errors import ModelNotFoundError
    from tts_assets.settings import DatasetSettings

    from tts_assets.aligners.whisper_backend import WhisperAligner
    from tts_assets.asr.whisper import packaged_model

    assert make_aligner(DatasetSettings().align.with_overrides(backend="whisper")).name == "whisper"
    with pytest.raises(ModelNotFoundError, match="English-only Whisper model cannot align 'fr' text"):
        WhisperAligner(packaged_model(), "fr")


@pytest.fixture
def offline_nltk(tmp_path, monkeypatch):
    """No NLTK data anywhere and no network: the aligner must provide the Punkt files itself."""
    import nltk

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty_nltk")])
    return tmp_path / "cache/tts_assets/nltk_data/tokenizers/punkt_tab"


def test_whisperx_backend_offline_with_a_local_wav2vec2_folder(tiny_wav2vec2, offline_nltk):
    from tts_assets.aligners.whisperx_backend import WhisperxAligner

    aligner = WhisperxAligner(str(tiny_wav2vec2), "en", "cpu")
    assert (offline_nltk / "english").is_dir()
    audio, _ = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav", dtype="float32")
    words = spoken_words("He was not an ill-disposed young man.")
    aligned = aligner.align(audio, words)
    assert [w.word for w in aligned] == words
    assert all(0 <= a.start <= a.end <= b.start + 1e-6 for a, b in zip(aligned, aligned[1:]))
    assert aligned[-1].end <= len(audio) / 16000 + 1e-6


def test_whisperx_backend_offline_in_german(tiny_wav2vec2, offline_nltk):
    """whisperx.align splits German text with punkt_tab/german, not english: that one must exist."""
    from tts_assets.aligners.whisperx_backend import WhisperxAligner

    aligner = WhisperxAligner(str(tiny_wav2vec2), "de", "cpu")
    assert (offline_nltk / "german").is_dir()
    audio, _ = sf.read(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav", dtype="float32")
    words = spoken_words(normalize_text("Er war kein übel gesinnter junger Mann, nicht 3 Mal.", "de"))
    assert words == ["er", "war", "kein", "übel", "gesinnter", "junger", "mann", "nicht", "drei", "mal"]
    aligned = aligner.align(audio, words)
    assert [w.word for w in aligned] == words
    assert all(0 <= a.start <= a.end <= b.start + 1e-6 for a, b in zip(aligned, aligned[1:]))


def test_aligner_from_settings(tiny_wav2vec2):
    from tts_assets.dataset.aligned import make_aligner
    from tts_assets.errors import SettingsError
    from tts_assets.settings import AlignSettings

    assert make_aligner(AlignSettings()).name == "pocketsphinx"
    assert make_aligner(AlignSettings(wav2vec2_model=str(tiny_wav2vec2))).name == "whisperx"
    with pytest.raises(SettingsError, match="English only"):  # a user's mistake: one line, like any other
        make_aligner(AlignSettings(backend="pocketsphinx", language="de"))

