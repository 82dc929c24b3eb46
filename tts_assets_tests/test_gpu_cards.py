"""One GPU step per card: steps in separate processes take different cards, wait when all are
held, get a killed holder's card back, and every GPU step of the project claims one. The cards are
named by CUDA_VISIBLE_DEVICES (this machine has none); the locks are real."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tts_assets import gpu_cards

HOLDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from tts_assets.gpu_cards import claimed_card
    release = Path(sys.argv[1])
    with claimed_card(poll_s=0.05) as card:
        print(card, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
        while not release.exists():
            time.sleep(0.05)
""")


def holder(tmp_path, name: str, cards: str) -> tuple[subprocess.Popen, object]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": cards, gpu_cards.LOCK_DIR_ENV: str(tmp_path / "locks")}
    release = tmp_path / f"release-{name}"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(release)], env=env, stdout=subprocess.PIPE, text=True)
    return child, release


def first_line(child: subprocess.Popen, timeout: float = 60) -> str:
    """The child's first line, or '' if it prints none within `timeout` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return child.stdout.readline().strip()


def test_steps_take_different_cards_wait_when_all_are_held_and_get_a_killed_holders_card(tmp_path):
    a, release_a = holder(tmp_path, "a", "0,1")
    seen = [first_line(a)]
    b, release_b = holder(tmp_path, "b", "0,1")
    seen.append(first_line(b))
    c, release_c = holder(tmp_path, "c", "0,1")
    try:
        cards = sorted(line.split()[0] for line in seen)
        assert cards == ["0", "1"]
        assert all(line.split()[0] == line.split()[1] for line in seen)  # only its own card visible
        assert first_line(c, timeout=2) == ""  # both cards held: the third step waits
        a.send_signal(signal.SIGKILL)  # a crash frees the card: the kernel drops the lock
        a.wait()
        assert first_line(c).split()[0] == seen[0].split()[0]
    finally:
        for release in (release_a, release_b, release_c):
            release.touch()
        for child in (a, b, c):
            child.wait(timeout=60)
    assert b.returncode == 0 and c.returncode == 0


NESTED = textwrap.dedent("""
    import os
    from tts_assets.gpu_cards import claimed_card
    with claimed_card() as outer:
        with claimed_card() as inner:  # an asset check inside its asset's step: no deadlock
            assert inner == outer
    with claimed_card() as again:  # CUDA may be running on the first card: the process keeps it
        assert again == outer
    print(outer, os.environ["CUDA_VISIBLE_DEVICES"])
""")


def test_a_claim_inside_a_claim_shares_it_and_a_process_keeps_its_first_card(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "3,5", gpu_cards.LOCK_DIR_ENV: str(tmp_path / "locks")}
    done = subprocess.run([sys.executable, "-c", NESTED], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3"]


@pytest.mark.parametrize("visible, cards", [("", []), ("-1", []), ("2,-1,3", ["2"]), ("GPU-a1b2, GPU-c3d4", ["GPU-a1b2", "GPU-c3d4"])])
def test_the_cards_a_process_is_given(monkeypatch, visible, cards):
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_cards.given_cards() == cards


def test_without_cards_nothing_is_claimed(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv(gpu_cards.LOCK_DIR_ENV, str(tmp_path / "locks"))
    with gpu_cards.claimed_card() as card:
        assert card is None and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert not (tmp_path / "locks").exists()


def test_every_gpu_step_claims_a_card(monkeypatch, tmp_path):
    """Each asset and check in the `gpu` pool runs through `on_a_free_card`, which Dagster drives
    like the function it wraps: a real run of a wrapped asset gets its card and its resources."""
    import dagster as dg

    from tts_assets.definitions import defs
    from tts_assets.defs.gpu import GPU, GPU_POOL, on_a_free_card

    wrapper = on_a_free_card(lambda context: None).__code__
    steps = [node.op for node in defs.assets] + [node.node_def for node in defs.asset_checks]
    gpu_steps = {op.name: op for op in steps if op.pool == GPU_POOL}
    assert {"transcript_segments", "aligned_dataset", "qwen3_codes", "qwen3_checkpoint", "qwen3_samples",
            "xtts_checkpoint", "xtts_samples"} <= set(gpu_steps)
    assert sum("evaluation" in name for name in gpu_steps) == 2
    for name, op in gpu_steps.items():
        assert op.compute_fn.decorated_fn.__code__ is wrapper, f"{name} does not claim a card"

    class Probe(dg.ConfigurableResource):
        name: str

    @dg.asset(**GPU)
    @on_a_free_card
    def probe(context: dg.AssetExecutionContext, resource: Probe) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"visible": os.environ["CUDA_VISIBLE_DEVICES"], "resource": resource.name})

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # restored afterwards, with the module's state
    monkeypatch.setenv(gpu_cards.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.setattr(gpu_cards, "_pinned", None)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([probe], resources={"resource": Probe(name="given")}, instance=instance)
    assert result.success
    metadata = result.asset_materializations_for_node("probe")[0].metadata
    assert metadata["resource"].value == "given" and metadata["visible"].value == "4"
    assert any(entry.user_message == "on GPU 4" for entry in instance.all_logs(result.run_id))
