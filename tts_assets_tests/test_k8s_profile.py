"""The Kubernetes profile validates against dagster-k8s's own schema, and each GPU step (and only
those) asks Kubernetes for a GPU through its tags, as dagster-k8s reads them."""

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
