"""The Kubernetes profile validates against dagster-k8s's own schema, and each GPU step (and only
those) asks Kubernetes for a GPU through its tags, as dagster-k8s reads them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import get_user_defined_k8s_config

from tts_assets.definitions import defs

DEPLOY = Path(__file__).parent.parent / "configs" / "deploy"


def test_k8s_profile_matches_the_schemas():
    profile = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())
    instance = validate_config(dagster_instance_config_schema(), profile)
    assert instance.success, instance.errors
    launcher = validate_config(K8sRunLauncher.config_type(), profile["run_launcher"]["config"])
    assert launcher.success, [e.message for e in launcher.errors]
    assert profile["run_launcher"]["class"] == "K8sRunLauncher"
    env = "\n".join(profile["run_launcher"]["config"]["env_vars"])
    assert "TTS_ASSETS_EXECUTOR=k8s" in env


def test_postgres_profile_matches_the_instance_schema():
    profile = yaml.safe_load((DEPLOY / "postgres" / "dagster.yaml").read_text())
    result = validate_config(dagster_instance_config_schema(), profile)
    assert result.success, result.errors


def gpu_limit(assets_def) -> str | None:
    config = get_user_defined_k8s_config(assets_def.op.tags)
    return config.container_config.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")


def test_gpu_steps_and_only_they_request_a_gpu():
    assets = {a.key.to_user_string(): a for a in defs.assets}
    gpu = {name for name, a in assets.items() if a.op.pool == "gpu"}
    assert {"transcript_segments", "aligned_dataset", "qwen3_codes", "qwen3_checkpoint", "qwen3_samples"} <= gpu
    for name, assets_def in assets.items():
        assert gpu_limit(assets_def) == ("1" if name in gpu else None), name


def test_k8s_executor_is_chosen_by_environment(monkeypatch):
    import importlib

    import tts_assets.definitions as definitions

    monkeypatch.setenv("TTS_ASSETS_EXECUTOR", "k8s")
    assert definitions._executor().name == "k8s"
    monkeypatch.delenv("TTS_ASSETS_EXECUTOR")
    assert importlib.reload(definitions).defs.executor is None


GPU_LIMITS = """
import json
from dagster_k8s.job import get_user_defined_k8s_config
from tts_assets.definitions import defs
limits = {a.key.to_user_string(): get_user_defined_k8s_config(a.op.tags).container_config["resources"]["limits"]
          for a in defs.assets if a.op.pool == "gpu"}
print(json.dumps(limits))
"""


def test_the_training_step_requests_the_cards_qwen3_gpus_sets(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("qwen3:\n  gpus: 2\n")
    done = subprocess.run([sys.executable, "-c", GPU_LIMITS], env={**os.environ, "TTS_ASSETS_SETTINGS": str(settings)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    limits = json.loads(done.stdout.strip().splitlines()[-1])
    assert limits["qwen3_checkpoint"] == {"nvidia.com/gpu": "2"}
    assert {name: limit["nvidia.com/gpu"] for name, limit in limits.items() if name != "qwen3_checkpoint"} == \
        dict.fromkeys(set(limits) - {"qwen3_checkpoint"}, "1")  # samples, codes, alignment: one card
