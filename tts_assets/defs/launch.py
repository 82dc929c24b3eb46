"""Run the dataset build for one book through Dagster, as the CLI does, recorded in the instance."""

import dagster as dg

from tts_assets.defs.partitions import book_partitions, voice_partitions


def build_book_and_dataset(
    instance: dg.DagsterInstance, voice: str, book: str, log_level: str = "CRITICAL"
) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """Add the partitions, materialize the book's assets, then refresh the voice's dataset
    (which also reports the book when it failed)."""
    from tts_assets.definitions import defs

    instance.add_dynamic_partitions(voice_partitions.name, [voice])
    instance.add_dynamic_partitions(book_partitions.name, [book])
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    book_run = defs.resolve_job_def("build_book").execute_in_process(
        partition_key=dg.MultiPartitionKey({"voice": voice, "book": book}),
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
    )
    dataset_run = defs.resolve_job_def("build_voice_dataset").execute_in_process(
        partition_key=voice, instance=instance, run_config=run_config, raise_on_error=False
    )
    return book_run, dataset_run
