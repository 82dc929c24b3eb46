"""The nightly schedule asks for training only where the dataset changed since the last checkpoint."""

import json
from datetime import datetime, timezone

import dagster as dg

from tts_assets.definitions import defs
from tts_assets.defs.training.schedules import nightly_training
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.models.trained_on import dataset_fingerprint, record_trained
from tts_assets.layout import DataLayout
from tts_assets.qwen3.paths import run_dir


def write_aligned(layout, voice, text):
    path = layout.aligned_manifest(voice)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{"audio_file": "a.wav", "text": "{text}"}}\n')


def evaluate(instance, data_root, night=27):
    context = dg.build_schedule_context(
        instance=instance, resources={"tts": TtsAssetsResource(data_root=str(data_root))},
        scheduled_execution_time=datetime(2026, 11, night, 2, tzinfo=timezone.utc),
    )
    return nightly_training(context)


def test_only_changed_or_untrained_voices_are_requested(tmp_path):
    layout = DataLayout(tmp_path)
    for voice in ("fresh", "stale", "new"):
        write_aligned(layout, voice, "hello")
    record_trained(run_dir(layout, "fresh"), dataset_fingerprint(layout, "fresh"), tmp_path / "checkpoint-9", 9)
    record_trained(run_dir(layout, "stale"), dataset_fingerprint(layout, "stale"), tmp_path / "checkpoint-9", 9)
    write_aligned(layout, "stale", "hello again")  # a book was added since
    layout.aligned_manifest("empty").parent.mkdir(parents=True)
    layout.aligned_manifest("empty").write_text("")  # every clip rejected: nothing to train on
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("voice", ["fresh", "stale", "new", "no_data", "empty"])
        requests = evaluate(instance, tmp_path)
        assert sorted(r.partition_key for r in requests) == ["new", "stale"]
        assert all(r.asset_selection[0].path == ["qwen3_codes"] for r in requests)  # no XTTS voice config here
        keys = {r.partition_key: r.run_key for r in requests}
        assert keys["stale"] == f"qwen3/stale/{dataset_fingerprint(layout, 'stale')}/2026-11-27"
        reasons = {r.partition_key: r.tags["tts_assets/reason"] for r in requests}
        assert reasons["new"] == "never trained" and reasons["stale"].startswith("dataset changed")
        # The same night evaluated again asks for the same runs (Dagster runs each key once) ...
        assert {r.run_key for r in evaluate(instance, tmp_path)} == set(keys.values())
        # ... and a night later, with nothing finished in between, for them again (a failed run retries),
        # except where that voice's training run is still going.
        job = defs.resolve_job_def("nightly_train")
        instance.create_run_for_job(job, run_config={}, status=dg.DagsterRunStatus.STARTED,
                                    tags={"dagster/partition": "stale", "tts_assets/engine": "qwen3"})
        [retry] = evaluate(instance, tmp_path, night=28)
        assert retry.partition_key == "new" and retry.run_key.endswith("/2026-11-28")

        record_trained(run_dir(layout, "stale"), dataset_fingerprint(layout, "stale"), tmp_path / "c", 10)
        record_trained(run_dir(layout, "new"), dataset_fingerprint(layout, "new"), tmp_path / "c", 3)
        assert isinstance(evaluate(instance, tmp_path), dg.SkipReason)


def test_the_fingerprint_follows_what_training_reads(tmp_path):
    """A rebuilt book whose clips and texts are the same, but whose speaker similarity moved (another
    book refined the voice's estimate), is not new data; a changed text or cut is."""
    layout = DataLayout(tmp_path)
    path = layout.aligned_manifest("v")
    path.parent.mkdir(parents=True)
    row = {"audio_file": "wavs_aligned/b/c.wav", "text": "Hello there.", "duration": 2.5, "start": 1.0,
           "end": 3.5, "split": "train", "align_score": 0.61, "speaker_similarity": 0.8997,
           "quality_dnsmos_ovrl": 3.1}
    path.write_text(json.dumps(row) + "\n")
    trained = dataset_fingerprint(layout, "v")
    path.write_text(json.dumps({**row, "speaker_similarity": 0.9012, "quality_dnsmos_ovrl": 3.2}) + "\n")
    assert dataset_fingerprint(layout, "v") == trained
    for changed in ({"text": "Hello, there."}, {"end": 3.6, "duration": 2.6}, {"split": "val"}):
        path.write_text(json.dumps({**row, **changed}) + "\n")
        assert dataset_fingerprint(layout, "v") != trained, changed


def test_training_jobs_have_a_runtime_limit_and_a_retry():
    for name in ("train_qwen3", "train_xtts", "nightly_train"):
        tags = defs.resolve_job_def(name).tags
        assert tags["dagster/max_runtime"] == str(24 * 3600) and tags["dagster/max_retries"] == "1"


def test_voices_with_an_xtts_config_also_train_xtts_when_their_data_changed(tmp_path, monkeypatch):
    layout = DataLayout(tmp_path)
    write_aligned(layout, "anna", "hello")
    record_trained(run_dir(layout, "anna"), dataset_fingerprint(layout, "anna"), tmp_path / "c", 1)  # Qwen3 current
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "anna_xtts.yaml").write_text("voice: anna\n")
    monkeypatch.setenv("TTS_ASSETS_XTTS_CONFIGS", str(configs))
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("voice", ["anna"])
        [request] = evaluate(instance, tmp_path)
        fingerprint = dataset_fingerprint(layout, "anna")
        assert request.run_key == f"xtts/anna/{fingerprint}/2026-11-27"
        assert [k.to_user_string() for k in request.asset_selection] == ["xtts_export", "xtts_checkpoint", "xtts_samples"]
        ops = request.run_config["ops"]
        assert set(ops) == {"xtts_export", "xtts_checkpoint", "xtts_samples"}
        assert ops["xtts_checkpoint"]["config"]["run_name"] == f"data-{fingerprint}"
        job = defs.resolve_job_def("nightly_train").get_subset(asset_selection=set(request.asset_selection))
        assert dg.validate_run_config(job, request.run_config)  # the run this request makes is well formed
        from tts_assets.xtts.paths import xtts_models_dir

        record_trained(xtts_models_dir(layout, "anna"), fingerprint, tmp_path / "c", 2)
        assert isinstance(evaluate(instance, tmp_path), dg.SkipReason)
