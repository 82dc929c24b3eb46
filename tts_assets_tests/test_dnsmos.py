"""DNSMOS P.835 on real LibriVox speech: our batched runner against speechmos's own, the order of
clean and degraded copies, and the floor through the aligned dataset (Dagster)."""

import json

import dagster as dg
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from bench.degrade import with_noise, with_reverb
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.quality.dnsmos import ClipScorer, Dnsmos, DnsmosScore, low_quality, windows
from tts_assets.settings import DatasetSettings

from .conftest import LIBRIVOX, librivox_transcripts


def clip(clip_id):
    audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
    assert rate == 16000
    return audio


@pytest.fixture(scope="module")
def scorer():
    return Dnsmos()


def test_the_runner_scores_as_speechmos_does(scorer):
    from speechmos import dnsmos as speechmos_dnsmos

    audio = clip("0890")  # 5.3 s: doubled to 10.6 s, one window (the reference's and ours)
    assert len(windows(audio, None)) == 1
    reference = speechmos_dnsmos.run(audio, 16000)
    [ours] = scorer.score([audio])
    assert (ours.sig, ours.bak, ours.ovrl) == pytest.approx(
        (reference["sig_mos"], reference["bak_mos"], reference["ovrl_mos"]), abs=2e-3)


def test_clean_speech_scores_above_its_degraded_copies(scorer):
    audio = clip("0920")
    copies = [audio, with_noise(audio, 20), with_noise(audio, 10), with_noise(audio, 5), with_reverb(audio, 16000)]
    clean, noise20, noise10, noise5, reverb = scorer.score(copies)
    assert clean.ovrl > noise20.ovrl > noise10.ovrl > noise5.ovrl
    assert clean.bak > noise20.bak > noise10.bak > noise5.bak  # the noise is what BAK rates
    quality = DatasetSettings().quality
    assert clean.ovrl >= quality.min_dnsmos_ovrl + 0.5 and reverb.ovrl < quality.min_dnsmos_ovrl
    # 10 dB of noise in a clean voice's clip: under the voice's own level by more than the margin
    assert noise10.ovrl < clean.ovrl - quality.dnsmos_below_median
    # Batched over clips or one clip a run: the same scores.
    assert [s.ovrl for s in Dnsmos(batch_windows=1).score(copies[:2])] == [clean.ovrl, noise20.ovrl]


def test_the_floor_rejects_the_degraded_copy_through_the_aligned_dataset(tmp_path, data_root, dagster_home,
                                                                         monkeypatch):
    text = librivox_transcripts()["0920"]
    folder = tmp_path / "clips"
    folder.mkdir()
    clean = clip("0920")
    for name, audio in {"clean.wav": clean, "reverb.wav": with_reverb(clean, 16000)}.items():
        sf.write(folder / name, audio, 16000)
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"audio_file": n, "text": text}) + "\n"
                                              for n in ("clean.wav", "reverb.wav")))
    settings = tmp_path / "settings.yaml"
    # The floor from the settings; the SNR filter off, so DNSMOS alone judges the reverberant copy.
    settings.write_text("dataset:\n  quality:\n    min_dnsmos_ovrl: 2.9\n    min_snr_db: 0\n")
    monkeypatch.setenv("TTS_ASSETS_SETTINGS", str(settings))
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("curated", str(folder), transcripts_jsonl=str(tmp_path / "t.jsonl")))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "v", book)
        run = run_voice_job(instance, "align_voice", "v")
    assert run.success
    assert {e.asset_check_key.name: e.passed for e in run.get_asset_check_evaluations()}["aligned_accounting"]
    [kept] = read_jsonl(layout.aligned_manifest("v"))
    [rejected] = read_jsonl(layout.aligned_rejections("v"))
    assert kept["source"].endswith("clean.wav") and 2.9 <= kept["quality_dnsmos_ovrl"] <= 4.0
    assert 3.0 <= kept["quality_dnsmos_sig"] <= 4.5 and 3.0 <= kept["quality_dnsmos_bak"] <= 4.5
    assert rejected["source"].endswith("reverb.wav") and rejected["reason"] == "low_quality"
    assert rejected["detail"].startswith("DNSMOS OVRL 1.") and rejected["detail"].endswith("< 2.9")
    table = pq.read_table(layout.aligned_parquet("v"))
    assert table.column("quality_dnsmos_ovrl").to_pylist() == [kept["quality_dnsmos_ovrl"]]
    summary = json.loads(layout.aligned_summary("v").read_text())
    assert summary["rejections_by_reason"] == {"low_quality": 1}
    assert summary["dnsmos"]["scored"] == 2 and summary["dnsmos"]["low_quality"] == 1
    assert [c["kept"] for c in summary["dnsmos"]["nearest_floor"]] == [False, True]  # by score
    [materialization] = run.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["low_quality"].value == 1
    report = metadata["dnsmos_report"].value
    assert "2 clips scored, 1 below the floor 2.9" in report and "data:image/png;base64," in report
    assert report.count("[listen](http://127.0.0.1:8100/voices/v?q=") == 2  # each clip heard on the review page
    assert layout.aligned_dnsmos_png("v").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rebuild_scores_only_the_clips_it_has_not_seen(tmp_path):
    sf.write(tmp_path / "a.wav", clip("0890"), 16000)
    cache = tmp_path / "dnsmos_cache.json"

    def scored() -> tuple[DnsmosScore, bool]:
        with ClipScorer(cache) as scorer:
            scorer.add("a.wav", tmp_path / "a.wav")
            return scorer.scores()["a.wav"], scorer.model is not None

    first, ran = scored()
    assert ran and 2.5 < first.ovrl < 3.5
    [digest] = json.loads(cache.read_text())
    cache.write_text(json.dumps({digest: [1.0, 1.0, 1.0]}))  # what the cache says is what counts
    assert scored() == (DnsmosScore(1.0, 1.0, 1.0), False)  # not even the session is loaded
    sf.write(tmp_path / "a.wav", clip("0890") * 0.5, 16000)  # new bytes: scored again, the old entry dropped
    again, ran = scored()
    assert ran and again.ovrl > 2.5 and digest not in json.loads(cache.read_text())


def test_low_quality_is_judged_against_the_floor_and_the_voices_median():
    rows = [{"quality_dnsmos_ovrl": v} for v in (3.1, 3.0, 2.9, 2.05, 1.9)]
    assert low_quality(rows, 2.0, 0.8) == {3: "DNSMOS OVRL 2.05 < the voice's median 2.90 - 0.8",
                                          4: "DNSMOS OVRL 1.90 < 2.0"}
    assert low_quality(rows, 2.0) == {4: "DNSMOS OVRL 1.90 < 2.0"}
    assert low_quality(rows[:1], 3.2, 0.8) == {0: "DNSMOS OVRL 3.10 < 3.2"}
