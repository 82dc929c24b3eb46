"""Checkpoint evaluation on a tiny trained Qwen3-TTS voice, with a real Whisper (tiny.en) and a
real speaker encoder (GE2E weights from the resemblyzer wheel): finite figures, a runaway and a
silent checkpoint flagged, only passing checkpoints promoted, the Dagster check and its trend."""

from __future__ import annotations

import glob
import json
import math
import shutil

import dagster as dg
import numpy as np
import pytest
import soundfile as sf

from tts_assets.settings import AsrSettings
from tts_assets.asr.whisper import load_model
from tts_assets.models import paths
from tts_assets.evaluate.evaluate import evaluate_and_record, evaluate_checkpoint, held_out_sentences
from tts_assets.models.promotion import read_history, read_promoted
from tts_assets.settings import FALLBACK_SENTENCES, EvaluationSettings
from tts_assets.evaluate.speaker import Ge2eEmbedder, cosine, load_embedder, resemblyzer_weights
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.models.engines import discover

from .conftest import LIBRIVOX
from .voice_fixtures import VOICE, copy_data_root, served_voice_build, silence_checkpoint  # noqa: F401

GOFORWARD = LIBRIVOX.parent / "goforward.raw"  # another speaker: 16 kHz 16-bit raw


@pytest.fixture(scope="module")
def layout(served_voice_build, tmp_path_factory):
    return copy_data_root(served_voice_build, tmp_path_factory.mktemp("evaluate") / "data")


@pytest.fixture(scope="module")
def asr_model(whisper_tiny):
    return load_model(AsrSettings(model=whisper_tiny, device="cpu"))


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("resemblyzer")


def newest(layout: DataLayout):
    return sorted((layout.models_dir(VOICE) / "qwen3").glob("checkpoint-*"))[-1]


def test_held_out_sentences_are_the_voices_validation_texts(layout, tmp_path):
    val = [r for r in read_jsonl(layout.aligned_manifest(VOICE)) if r["split"] == "val"]
    assert val
    held_out = held_out_sentences(layout, VOICE, EvaluationSettings())
    assert held_out.source == "val" and held_out.texts == [r["text"] for r in val]
    assert held_out.audio == [layout.dataset_dir(VOICE) / r["audio_file"] for r in val]
    given = held_out_sentences(layout, VOICE, EvaluationSettings(sentences=["One.", "Two.", "Three."], max_sentences=2))
    assert given.source == "settings" and given.texts == ["One.", "Two."]
    empty = held_out_sentences(DataLayout(tmp_path), VOICE, EvaluationSettings())
    assert empty.source == "fallback" and empty.texts == FALLBACK_SENTENCES


def test_speaker_embedding_tells_readers_apart(embedder):
    readers = [embedder.embed(*sf.read(f, dtype="float32")) for f in sorted(glob.glob(str(LIBRIVOX / "*.wav")))]
    other = embedder.embed(np.fromfile(GOFORWARD, dtype="<i2").astype(np.float32) / 32768, 16000)
    same = [cosine(readers[0], r) for r in readers[1:]]
    different = [cosine(other, r) for r in readers]
    assert min(same) > 0.8 and max(different) < 0.75 and min(same) > max(different)
    assert embedder.embed(np.zeros(48000, np.float32), 24000) is None  # silence: no speaker
    assert cosine(None, readers[0]) == 0.0
    assert resemblyzer_weights().name == "pretrained.pt" and isinstance(embedder, Ge2eEmbedder)


def test_qwen3_speaker_encoder_is_read_from_the_checkpoint(layout):
    encoder = load_embedder("qwen3", newest(layout))
    audio, rate = sf.read(next(LIBRIVOX.glob("*.wav")), dtype="float32")
    embedding = encoder.embed(audio, rate)
    assert embedding.shape == (64,) and np.isfinite(embedding).all() and abs(np.linalg.norm(embedding) - 1) < 1e-5


def test_tiny_checkpoint_gives_finite_figures(layout, asr_model, embedder):
    """One held-out (val) sentence, capped at 1 s: every figure finite; the real recording of the
    sentence sets the similarity ceiling; noise without words fails the word error rate."""
    settings = EvaluationSettings(max_sentences=1, max_generation_seconds=1.0, device="cpu")
    checkpoint = newest(layout)
    evaluation = evaluate_checkpoint(layout, VOICE, checkpoint, settings, asr_model=asr_model, embedder=embedder)
    figures = evaluation.figures
    assert evaluation.sentence_source == "val" and figures["sentences"] == 1
    for name in ("wer", "wer_max", "speaker_similarity", "speaker_similarity_min", "real_speaker_similarity",
                 "seconds_per_char_mean", "seconds_per_char_max", "speech_seconds_per_char_min", "audio_seconds",
                 "real_time_factor"):
        assert math.isfinite(figures[name]), name
    assert 0.9 <= figures["audio_seconds"] <= 1.0 + 1e-6  # 12.5 frames of 80 ms at most
    assert figures["real_speaker_similarity"] > 0.7 > figures["speaker_similarity"], figures  # the reader vs noise
    assert figures["wer"] >= 0.9 and not evaluation.passed
    assert any(f.startswith("word error rate") for f in evaluation.failures)
    row = evaluation.sentences[0]
    wav, rate = sf.read(row["audio"])
    assert rate == 24000 and abs(len(wav) / rate - row["seconds"]) < 1e-3 and np.abs(wav).max() > 0.05
    report = json.loads(paths.report_file(layout, VOICE, "qwen3", checkpoint).read_text())
    assert report["figures"] == figures and report["passed"] is False


def test_runaway_generation_is_flagged(layout, asr_model):
    """The random-weight talker never says stop: it talks until the cap, far past the bound."""
    settings = EvaluationSettings(sentences=["Hello there."], device="cpu", max_wer=None, speaker_model="none")
    evaluation = evaluate_checkpoint(layout, VOICE, newest(layout), settings, asr_model=asr_model, embedder=None)
    cap = settings.generation_seconds("Hello there.")  # 12 characters x 0.2 s x headroom 1.5 = 3.6 s
    assert evaluation.sentences[0]["seconds"] > 0.9 * cap
    assert evaluation.figures["seconds_per_char_max"] > settings.max_seconds_per_char
    assert [f.split(":")[0] for f in evaluation.failures] == ["runaway generation"]
    assert "speaker_similarity" not in evaluation.figures


def test_only_passing_checkpoints_are_promoted(layout, asr_model, embedder):
    """Thresholds on sound only: the tiny voice passes and is promoted; a copy whose decoder
    weights are zeroed speaks silence, fails, and leaves the promoted checkpoint served."""
    settings = EvaluationSettings(sentences=["Hello there."], max_generation_seconds=1.0, device="cpu",
                                  max_wer=None, min_speaker_similarity=None)
    good = newest(layout)
    evaluation, promoted = evaluate_and_record(layout, VOICE, good, settings, asr_model=asr_model, embedder=embedder)
    assert evaluation.passed and promoted
    assert read_promoted(layout, VOICE, "qwen3")["checkpoint"] == good.name

    broken = silence_checkpoint(good, good.parent / "checkpoint-3")
    assert discover(layout)[VOICE]["qwen3"].checkpoint == good  # promoted beats newest
    failed, promoted = evaluate_and_record(layout, VOICE, broken, settings, asr_model=asr_model, embedder=embedder)
    assert not failed.passed and not promoted
    assert failed.figures["speech_seconds_per_char_min"] == 0.0 and failed.figures["speaker_similarity"] == 0.0
    assert any(f.startswith("silence or truncation") for f in failed.failures)
    record = read_promoted(layout, VOICE, "qwen3")
    assert record["checkpoint"] == good.name and record["figures"] == evaluation.figures
    assert [(h["checkpoint"], h["passed"]) for h in read_history(layout, VOICE, "qwen3")] == [
        (good.name, True), ("checkpoint-3", False)]
    assert discover(layout)[VOICE]["qwen3"].checkpoint == good
    shutil.rmtree(broken)


def test_dagster_check_reports_figures_trend_and_promotion(served_voice_build, tmp_path, monkeypatch, whisper_tiny):
    from tts_assets.defs.evaluate.checks import qwen3_checkpoint_evaluation
    from tts_assets.defs.partitions import voice_partitions
    from tts_assets.defs.qwen3.assets import qwen3_checkpoint, qwen3_samples
    from tts_assets.defs.qwen3.jobs import train_qwen3_job
    from tts_assets.defs.resources import TtsAssetsResource

    layout = copy_data_root(served_voice_build, tmp_path / "data")
    base = served_voice_build / "tiny-base"

    def settings_file(max_wer):
        path = tmp_path / f"settings_{max_wer}.yaml"
        path.write_text(
            f"qwen3:\n  base_model: {base}\n  device: cpu\n  batch_size: 2\n  grad_accum: 1\n  lr: 0.001\n"
            "  warmup_steps: 1\n  keep_checkpoints: 5\n  sample_max_new_tokens: 5\n"
            f"evaluation:\n  sentences: [Hello there.]\n  asr_model: {whisper_tiny}\n  max_generation_seconds: 1.0\n"
            f"  max_wer: {max_wer}\n  min_speaker_similarity: null\n")
        return path

    defs = dg.Definitions(assets=[qwen3_checkpoint, qwen3_samples], asset_checks=[qwen3_checkpoint_evaluation],
                          jobs=[train_qwen3_job], resources={"tts": TtsAssetsResource(data_root=str(layout.root))})
    job = defs.resolve_job_def("train_qwen3")

    def train(max_steps, max_wer):
        monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings_file(max_wer)))
        run = job.execute_in_process(partition_key=VOICE, instance=instance, raise_on_error=False,
                                     run_config={"ops": {"qwen3_checkpoint": {"config": {"max_steps": max_steps}}}})
        assert run.success  # a failing evaluation flags the checkpoint; the run (and samples) go on
        (check,) = run.get_asset_check_evaluations()
        return check

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(voice_partitions.name, [VOICE])
        passing = train(3, "null")
        assert passing.passed
        meta = {k: v.value for k, v in passing.metadata.items()}
        assert meta["voice"] == VOICE
        assert meta["checkpoint"].endswith("checkpoint-3") and meta["step"] == 3 and meta["promoted"] is True
        assert meta["verdict"] == "pass" and math.isfinite(meta["wer"]) and meta["sentence_source"] == "settings"
        assert [r["checkpoint"] for r in meta["trend_values"]] == ["checkpoint-3"]
        assert read_promoted(layout, VOICE, "qwen3")["checkpoint"] == "checkpoint-3"

        failing = train(4, 0.3)  # the tiny voice says no words: WER 1 > 0.3
        assert not failing.passed and failing.severity == dg.AssetCheckSeverity.ERROR
        meta = {k: v.value for k, v in failing.metadata.items()}
        assert meta["promoted"] is False and meta["served_checkpoint"] == "checkpoint-3"
        assert failing.description.startswith("word error rate") and "not promoted" in failing.description
        assert [(r["checkpoint"], r["passed"]) for r in meta["trend_values"]] == [
            ("checkpoint-3", True), ("checkpoint-4", False)]
        assert "| checkpoint-4 | False |" in meta["trend"]
    assert read_promoted(layout, VOICE, "qwen3")["checkpoint"] == "checkpoint-3"


def test_settings_come_from_the_evaluation_section(tmp_path):
    from tts_assets.errors import InputFileError

    path = tmp_path / "settings.yaml"
    path.write_text("evaluation:\n  max_wer: null\n  speaker_model: qwen3\n  sentences: [One., Two.]\n")
    settings = EvaluationSettings.load(path)
    assert settings.max_wer is None and settings.speaker_model == "qwen3" and settings.sentences == ["One.", "Two."]
    assert settings.thresholds()["min_speaker_similarity"] == 0.75
    assert settings.generation_seconds("x" * 100) == 100 * 0.2 * 1.5
    path.write_text("evaluation:\n  max_wer: lots\n")
    with pytest.raises(InputFileError, match=f"{path}.*max_wer"):
        EvaluationSettings.load(path)


def test_word_error_rate_reads_words_as_the_datasets_do_in_any_language():
    from tts_assets.evaluate.measures import word_error_rate

    # punctuation and case are not words; numbers are spelled as the language writes them
    assert word_error_rate(["Hallo, Welt! Es sind 3,5 Grad."], ["hallo welt es sind drei komma fünf grad"], "de") == 0
    assert word_error_rate(["Hallo, Welt!"], ["Hallo Wald."], "de") == 0.5
    assert word_error_rate(["5 ആപ്പിളുകൾ ഉണ്ട്."], ["5 ആപ്പിളുകൾ ഉണ്ട്"], "ml") == 0
    assert word_error_rate(["В 1850 году было 5 раз."], ["В 1900 году было 7 раз."], "ru") == pytest.approx(2 / 6)  # digits are words
