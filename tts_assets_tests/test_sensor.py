"""The inbox sensor: new books become partitions and runs once their files stop changing."""

import json

import dagster as dg

from tts_assets.definitions import defs
from tts_assets.defs.ingest.sensors import inbox_sensor
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.layout import DataLayout
from tts_assets.dataset.sources import read_source


def tick(instance, cursor, data_root):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"tts": TtsAssetsResource(data_root=str(data_root))},
        definitions=defs,
    )
    return inbox_sensor(context)


def keys(result):
    return sorted(str(r.partition_key) for r in result.run_requests)


def test_inbox_books_wait_until_stable_and_run_once(tmp_path, librivox_book):
    data_root = tmp_path / "data"
    inbox = data_root / "inbox" / "Reader One"
    inbox.mkdir(parents=True)
    book = inbox / "Sense And Sensibility.flac"
    book.write_bytes(librivox_book.audio.read_bytes()[:1000])  # still being copied
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(instance, None, data_root)
        assert first.run_requests == []

        book.write_bytes(librivox_book.audio.read_bytes())  # the copy grew since the last look
        second = tick(instance, first.cursor, data_root)
        assert second.run_requests == []

        third = tick(instance, second.cursor, data_root)  # unchanged since the last look: ready
        assert keys(third) == ["sense_and_sensibility|reader_one"]
        added = {r.partitions_def_name: r.partition_keys for r in third.dynamic_partitions_requests}
        assert added == {"voice": ["reader_one"], "book": ["sense_and_sensibility"]}
        source = read_source(DataLayout(data_root), "reader_one", "sense_and_sensibility")
        assert source.kind == "audiobook" and source.path == str(book)

        assert tick(instance, third.cursor, data_root).run_requests == []  # no duplicate

        # A second book of the same voice, with its own segments: only that book is requested.
        second_book = inbox / "book2.wav"
        second_book.write_bytes(b"RIFF")
        (inbox / "book2.segments.jsonl").write_text(json.dumps({"start": 0, "end": 1, "text": "x"}) + "\n")
        fourth = tick(instance, third.cursor, data_root)
        fifth = tick(instance, fourth.cursor, data_root)
        assert fourth.run_requests == [] and keys(fifth) == ["book2|reader_one"]
        assert read_source(DataLayout(data_root), "reader_one", "book2").segments_jsonl.endswith(
            "book2.segments.jsonl"
        )


def test_curated_folder_in_the_inbox(tmp_path):
    data_root = tmp_path / "data"
    folder = data_root / "inbox" / "anna" / "session_1"
    folder.mkdir(parents=True)
    (folder / "transcripts.jsonl").write_text('{"audio_file": "a.wav", "text": "hi"}\n')
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(instance, None, data_root)
        second = tick(instance, first.cursor, data_root)
    assert keys(second) == ["session_1|anna"]
    assert read_source(DataLayout(data_root), "anna", "session_1").kind == "curated"


def test_names_in_other_scripts_become_keys_and_a_nameless_one_is_skipped(tmp_path, librivox_book):
    data_root = tmp_path / "data"
    (data_root / "inbox" / "Алиса").mkdir(parents=True)
    (data_root / "inbox" / "Алиса" / "日本語.flac").write_bytes(librivox_book.audio.read_bytes())
    (data_root / "inbox" / "Алиса" / "!!!.flac").write_bytes(librivox_book.audio.read_bytes())
    (data_root / "inbox" / "???").mkdir()
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(instance, None, data_root)
        second = tick(instance, first.cursor, data_root)
    assert keys(second) == ["ribenyu|alisa"]


def test_finished_book_refreshes_its_voice_dataset(dagster_home, data_root, librivox_book, tmp_path):
    """A finished book run makes the automation ask for its voice's dataset and aligned dataset,
    together; a failed one, the run-status sensor for the dataset alone."""
    from tts_assets.defs.ingest.sensors import refresh_dataset_after_failed_book
    from tts_assets.defs.launch import _execute
    from tts_assets.dataset.sources import BookSource, register_book

    layout = DataLayout(data_root)
    segments = tmp_path / "s.jsonl"
    librivox_book.write_segments(segments)
    book = register_book(layout, "reader", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio")
    other = register_book(layout, "other", BookSource("audiobook", str(broken)))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("voice", ["reader", "other"])
        instance.add_dynamic_partitions("book", [book, other])
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        book_run = _execute(instance, "build_book", dg.MultiPartitionKey({"voice": "reader", "book": book}),
                            "CRITICAL", None)
        failed_run = _execute(instance, "build_book", dg.MultiPartitionKey({"voice": "other", "book": other}),
                              "CRITICAL", None)
        assert book_run.success and not failed_run.success
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
        requested = {r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys())
                     for r in after.results if r.true_subset.size}
        assert requested == {"voice_dataset": {"reader"}, "aligned_dataset": {"reader"}}
        context = dg.build_run_status_sensor_context(
            sensor_name=refresh_dataset_after_failed_book.name,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed_run.run_id),
            dagster_event=failed_run.get_run_failure_event(),
        )
        [request] = list(refresh_dataset_after_failed_book(context))
    assert request.partition_key == "other"


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"build_book", "build_voice_dataset"}
    transcript = defs.resolve_assets_def("transcript_segments")
    assert transcript.op.pool == "gpu"
