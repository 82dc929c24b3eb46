"""Run jobs through Dagster from the command line or tests, recorded in the given instance.

Each run started here is tagged with this process's id and host. A process killed outright
(SIGKILL, a crash) leaves its run STARTED, holding its `gpu` pool slot forever, and the next GPU
step would wait for it; so before each launch, runs whose process is gone are marked failed and
their slots freed.
"""

import os
import socket

import dagster as dg

from tts_assets.defs.partitions import book_partitions, voice_partitions

PID_TAG = "tts_assets/pid"
HOST_TAG = "tts_assets/host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs this host started whose process is gone, and free their pool slots."""
    host = socket.gethostname()
    stale = []
    runs = instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: host}))
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if pid and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            instance.report_run_failed(run, f"process {pid} on {host} ended without finishing the run")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            stale.append(run.run_id)
    return stale


def _execute(instance, job_name: str, partition_key, log_level: str, asset_config: dict | None):
    from tts_assets.definitions import defs

    recover_dead_runs(instance)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if asset_config:
        run_config["ops"] = {name: {"config": config} for name, config in asset_config.items()}
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key=partition_key, instance=instance, run_config=run_config, raise_on_error=False,
        tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
    )


def run_voice_job(
    instance: dg.DagsterInstance,
    job_name: str,
    voice: str,
    log_level: str = "CRITICAL",
    asset_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize a per-voice job; `asset_config` maps an asset name to its run config."""
    instance.add_dynamic_partitions(voice_partitions.name, [voice])
    return _execute(instance, job_name, voice, log_level, asset_config)


def build_book_and_dataset(
    instance: dg.DagsterInstance, voice: str, book: str, log_level: str = "CRITICAL"
) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """Add the partitions, materialize the book's assets, then refresh the voice's dataset
    (which also reports the book when it failed)."""
    instance.add_dynamic_partitions(voice_partitions.name, [voice])
    instance.add_dynamic_partitions(book_partitions.name, [book])
    key = dg.MultiPartitionKey({"voice": voice, "book": book})
    book_run = _execute(instance, "build_book", key, log_level, None)
    return book_run, run_voice_job(instance, "build_voice_dataset", voice, log_level)


def failure_reason(run: dg.ExecuteInProcessResult) -> str:
    """The first failed step's one-line message, or the failed check's description."""
    failures = run.get_step_failure_events()
    if failures:
        error = failures[0].step_failure_data.error
        while error.cause is not None:  # Dagster wraps an unexpected error: its cause says what went wrong
            error = error.cause
        message = error.message.strip()
        return message.splitlines()[-1] if message else "a step failed"
    for evaluation in run.get_asset_check_evaluations():
        if not evaluation.passed:
            return f"check {evaluation.asset_check_key.name} failed: {evaluation.description}"
    return "see the run's logs"
