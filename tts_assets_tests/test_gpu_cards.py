"""One GPU step per card: processes take different cards, wait when all are held, get a killed
holder's card back, keep their card for all their steps (their children use it too), and every GPU
step of the project takes one. The cards are named by CUDA_VISIBLE_DEVICES or a stand-in
`nvidia-smi` (this machine has no GPU); the locks are real."""

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap

import pytest

from tts_assets.gpu import cards as gpu_cards

HOLDER = textwrap.dedent("""
    import logging, os, sys, time
    from pathlib import Path
    from tts_assets.gpu.cards import HELD_ENV, hold_a_card
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    card = hold_a_card(poll_s=0.05)
    print(card, os.environ["CUDA_VISIBLE_DEVICES"], os.environ[HELD_ENV], flush=True)
    while not Path(sys.argv[1]).exists():
        time.sleep(0.05)
""")


def card_env(tmp_path, cards: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != gpu_cards.HELD_ENV}
    return {**env, "CUDA_VISIBLE_DEVICES": cards, gpu_cards.LOCK_DIR_ENV: str(tmp_path / "locks")}


def holder(tmp_path, name: str, cards: str = "0,1"):
    release = tmp_path / f"release-{name}"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(release)], env=card_env(tmp_path, cards),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return child, release


def line_from(stream, timeout: float = 60) -> str:
    """The stream's next line, or '' if none comes within `timeout` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline().strip()


def test_processes_take_different_cards_wait_when_all_are_held_and_get_a_killed_holders_card(tmp_path):
    a, release_a = holder(tmp_path, "a")
    first = line_from(a.stdout).split()
    b, release_b = holder(tmp_path, "b")
    second = line_from(b.stdout).split()
    c, release_c = holder(tmp_path, "c")
    try:
        assert sorted([first[0], second[0]]) == ["0", "1"]
        assert first[0] == first[1] == first[2] and second[0] == second[1]  # sees only its own card
        assert "waiting for a free GPU: 0, 1" in line_from(c.stderr)  # both held: the third waits
        assert line_from(c.stdout, timeout=1) == ""
        a.send_signal(signal.SIGKILL)  # a crash frees the card: the kernel drops the lock
        a.wait()
        assert line_from(c.stdout).split()[0] == first[0]
    finally:
        for release in (release_a, release_b, release_c):
            release.touch()
        for child in (a, b, c):
            child.wait(timeout=60)
    assert b.returncode == 0 and c.returncode == 0


KEEPER = textwrap.dedent("""
    import os, subprocess, sys
    from tts_assets.gpu.cards import HELD_ENV, hold_a_card
    card = hold_a_card()
    assert hold_a_card() == card  # the next step of the process: the same card, still held
    ask = [sys.executable, "-c", "from tts_assets.gpu.cards import hold_a_card; print(hold_a_card(poll_s=0.05))"]
    child = subprocess.run(ask, capture_output=True, text=True, timeout=60)  # inherits the card
    other = {k: v for k, v in os.environ.items() if k != HELD_ENV}
    stranger = subprocess.run(ask, env={**other, "CUDA_VISIBLE_DEVICES": sys.argv[1]}, capture_output=True,
                              text=True, timeout=60)
    print(card, child.stdout.strip(), stranger.stdout.strip())
""")


def test_a_process_keeps_its_card_for_all_its_steps_and_its_children_use_it(tmp_path):
    done = subprocess.run([sys.executable, "-c", KEEPER, "3,5"], env=card_env(tmp_path, "3,5"),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3", "5"]  # an unrelated process gets the other card


@pytest.mark.parametrize("visible, cards", [("", []), ("-1", []), ("2,-1,3", ["2"]), ("GPU-a1b2, GPU-c3d4", ["GPU-a1b2", "GPU-c3d4"])])
def test_the_cards_a_process_is_given(monkeypatch, visible, cards):
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_cards.given_cards() == cards


def test_without_cuda_visible_devices_the_cards_are_those_nvidia_smi_lists(monkeypatch, tmp_path, caplog):
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\n[ "$1" = "--query-gpu=index" ] && printf "0\\n1\\n"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu_cards, "_given", None)
    assert gpu_cards.given_cards() == ["0", "1"]

    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.setattr(gpu_cards, "driver_present", lambda: True)
    assert gpu_cards.given_cards() == []
    assert "nvidia-smi could not list the GPUs" in caplog.text  # a driver without a listing is said


def test_an_existing_lock_file_is_opened_without_creating(monkeypatch, tmp_path):
    """In a shared sticky folder Linux refuses O_CREAT on another user's file even when it exists."""
    calls = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, flags, *mode: calls.append(flags) or real_open(path, flags, *mode))
    lock = tmp_path / "card-0.lock"
    os.close(gpu_cards._open_lock_file(lock))  # missing: created, exclusively
    assert lock.exists() and calls[-1] & os.O_CREAT and calls[-1] & os.O_EXCL
    calls.clear()
    os.close(gpu_cards._open_lock_file(lock))
    assert calls == [os.O_RDONLY]


def test_without_cards_nothing_is_taken(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_cards, "_given", None)
    monkeypatch.delenv(gpu_cards.HELD_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv(gpu_cards.LOCK_DIR_ENV, str(tmp_path / "locks"))
    assert gpu_cards.hold_a_card() is None and os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert not (tmp_path / "locks").exists()


def test_every_gpu_step_takes_a_card():
    from tts_assets.definitions import defs
    from tts_assets.defs.gpu import GPU_POOL, on_a_free_card

    wrapper = on_a_free_card(lambda context: None).__code__
    steps = [node.op for node in defs.assets] + [node.node_def for node in defs.asset_checks]
    gpu_steps = {op.name: op for op in steps if op.pool == GPU_POOL}
    assert {"transcript_segments", "aligned_dataset", "qwen3_codes", "qwen3_checkpoint", "qwen3_samples",
            "xtts_checkpoint", "xtts_samples"} <= set(gpu_steps)
    assert sum("evaluation" in name for name in gpu_steps) == 2
    for name, op in gpu_steps.items():
        assert op.compute_fn.decorated_fn.__code__ is wrapper, f"{name} does not take a card"


def test_steps_that_could_not_hold_a_card_are_refused():
    from tts_assets.defs.gpu import on_a_free_card

    def streaming(context):
        yield 1

    def anonymous(config):
        return config

    with pytest.raises(TypeError, match="streaming: on_a_free_card takes a function that returns"):
        on_a_free_card(streaming)
    with pytest.raises(TypeError, match="anonymous: a GPU step takes `context` first"):
        on_a_free_card(anonymous)


RUN = textwrap.dedent("""
    import json, os, subprocess, sys
    import dagster as dg
    from tts_assets.defs.gpu import GPU, GPU_POOL, on_a_free_card
    from tts_assets.gpu.cards import HELD_ENV

    class Probe(dg.ConfigurableResource):
        name: str

    @dg.asset(**GPU)
    @on_a_free_card
    def first(context: dg.AssetExecutionContext, resource: Probe) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"visible": os.environ["CUDA_VISIBLE_DEVICES"], "resource": resource.name})

    @dg.asset(deps=[first], **GPU)
    @on_a_free_card
    def second(context: dg.AssetExecutionContext) -> None:
        pass

    @dg.asset_check(asset=second, pool=GPU_POOL)
    @on_a_free_card
    def second_checked(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True, metadata={"visible": os.environ["CUDA_VISIBLE_DEVICES"]})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([first, second, second_checked], resources={"resource": Probe(name="given")},
                            instance=instance)
    other = {k: v for k, v in os.environ.items() if k != HELD_ENV}
    ask = [sys.executable, "-c", "from tts_assets.gpu.cards import hold_a_card; print(hold_a_card(poll_s=0.05))"]
    stranger = subprocess.run(ask, env={**other, "CUDA_VISIBLE_DEVICES": "4,5"}, capture_output=True, text=True)
    print(json.dumps({
        "success": result.success,
        "first": {k: v.value for k, v in result.asset_materializations_for_node("first")[0].metadata.items()},
        "check": result.get_asset_check_evaluations()[0].metadata["visible"].value,
        "logged": [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("on GPU")],
        "stranger": stranger.stdout.strip(),
    }))
""")


def test_a_dagster_run_takes_one_card_for_its_gpu_steps_and_keeps_it(tmp_path):
    """A run in one process (as `tts-assets` commands run jobs): both assets and the check log
    card 4 and see only it, resources still reach the step, and another process then gets card 5."""
    done = subprocess.run([sys.executable, "-c", RUN], env=card_env(tmp_path, "4,5"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["success"] and report["first"] == {"visible": "4", "resource": "given"} and report["check"] == "4"
    assert report["logged"] == ["on GPU 4"] * 3 and report["stranger"] == "5"


SEVERAL = textwrap.dedent("""
    import logging, os, sys, time
    from pathlib import Path
    from tts_assets.errors import SettingsError
    from tts_assets.gpu.cards import HELD_ENV, hold_cards
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cards = hold_cards(int(sys.argv[2]), poll_s=0.05)
    except SettingsError as error:
        print("refused:", error, flush=True)
        sys.exit(0)
    print(",".join(cards), os.environ["CUDA_VISIBLE_DEVICES"], os.environ[HELD_ENV], flush=True)
    while not Path(sys.argv[1]).exists():
        time.sleep(0.05)
""")


def test_a_step_on_two_cards_takes_two_free_ones_together(tmp_path):
    """Of four cards: two steps on two cards each get two different ones and see both; a third
    waits, then gets both cards of the first when it ends; a step asking for more cards than the
    process is given is refused."""
    children, releases = [], []

    def start(name: str, count: int):
        release = tmp_path / f"release-{name}"
        child = subprocess.Popen([sys.executable, "-c", SEVERAL, str(release), str(count)],
                                 env=card_env(tmp_path, "0,1,2,3"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        children.append(child)
        releases.append(release)
        return child, release

    try:
        a, release_a = start("a", 2)
        first = line_from(a.stdout).split()
        b, _ = start("b", 2)
        second = line_from(b.stdout).split()
        assert first[0] == first[1] == first[2] and second[0] == second[1] == second[2]
        assert sorted(first[0].split(",") + second[0].split(",")) == ["0", "1", "2", "3"]
        c, _ = start("c", 2)
        assert "waiting for 2 free GPUs: 0, 1, 2, 3" in line_from(c.stderr)
        release_a.touch()  # a ends: its two cards go to c together
        assert sorted(line_from(c.stdout).split()[0].split(",")) == sorted(first[0].split(","))
        too_many, _ = start("too_many", 5)
        assert line_from(too_many.stdout) == "refused: 5 GPUs asked for, but this process is given 4: 0, 1, 2, 3"
    finally:
        for release in releases:
            release.touch()
        for child in children:
            child.wait(timeout=60)
    assert all(child.returncode == 0 for child in children)


SEVERAL_IN_A_RUN = textwrap.dedent("""
    import json, os
    import dagster as dg
    from tts_assets.defs.gpu import gpu_step, on_free_cards

    class Cards(dg.Config):
        cards: int

    @dg.asset(**gpu_step(2))
    @on_free_cards(lambda config: config.cards)
    def trained(context: dg.AssetExecutionContext, config: Cards) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"visible": os.environ["CUDA_VISIBLE_DEVICES"]})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([trained], run_config={"ops": {"trained": {"config": {"cards": 2}}}}, instance=instance)
    print(json.dumps({
        "visible": result.asset_materializations_for_node("trained")[0].metadata["visible"].value,
        "logged": [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("on GPU")],
    }))
""")


def test_a_dagster_step_takes_the_cards_its_config_asks_for(tmp_path):
    done = subprocess.run([sys.executable, "-c", SEVERAL_IN_A_RUN], env=card_env(tmp_path, "4,5,6"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"visible": "4,5", "logged": ["on GPUs 4, 5"]}
