"""Run jobs through Dagster from the command line or tests, recorded in the given instance."""

import dagster as dg

from tts_assets.defs.partitions import book_partitions, voice_partitions


def _run_config(log_level: str) -> dict:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def run_voice_job(
    instance: dg.DagsterInstance,
    job_name: str,
    voice: str,
    log_level: str = "CRITICAL",
    asset_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize a per-voice job; `asset_config` maps an asset name to its run config."""
    from tts_assets.definitions import defs

    instance.add_dynamic_partitions(voice_partitions.name, [voice])
    run_config = _run_config(log_level)
    if asset_config:
        run_config["ops"] = {name: {"config": config} for name, config in asset_config.items()}
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key=voice, instance=instance, run_config=run_config, raise_on_error=False
    )


def build_book_and_dataset(
    instance: dg.DagsterInstance, voice: str, book: str, log_level: str = "CRITICAL"
) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """Add the partitions, materialize the book's assets, then refresh the voice's dataset
    (which also reports the book when it failed)."""
    from tts_assets.definitions import defs

    instance.add_dynamic_partitions(voice_partitions.name, [voice])
    instance.add_dynamic_partitions(book_partitions.name, [book])
    book_run = defs.resolve_job_def("build_book").execute_in_process(
        partition_key=dg.MultiPartitionKey({"voice": voice, "book": book}),
        instance=instance,
        run_config=_run_config(log_level),
        raise_on_error=False,
    )
    return book_run, run_voice_job(instance, "build_voice_dataset", voice, log_level)
