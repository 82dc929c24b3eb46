"""The production profile: PostgreSQL run and event storage for real materializations, with the
`gpu` pool keeping two GPU steps from ever overlapping. Needs the server `bin/postgres` starts
(bin/test does)."""

import os
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

PROFILE = Path(__file__).parent.parent / "configs" / "deploy" / "postgres" / "dagster.yaml"
CREDENTIALS = dict(user="tts_assets", password="tts_assets", host="127.0.0.1", port=5432)

BUILD_ONE_BOOK = """
import sys
import dagster as dg
from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.layout import DataLayout
from tts_assets.dataset.sources import BookSource, register_book
data_root, book, audio, model = sys.argv[1:5]
register_book(DataLayout.at(data_root), "v", BookSource("audiobook", audio, asr_model=model, language="en"), book)
with dg.DagsterInstance.get() as instance:
    book_run, _ = build_book_and_dataset(instance, "v", book)
    sys.exit(0 if book_run.success else 1)
"""


@pytest.fixture
def postgres_home(tmp_path, monkeypatch):
    try:
        admin = psycopg2.connect(dbname="tts_assets_test", **CREDENTIALS)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({exc}); run bin/postgres (bin/test does)")
    admin.autocommit = True
    database = f"tts_assets_{uuid.uuid4().hex[:12]}"
    admin.cursor().execute(f"CREATE DATABASE {database}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROFILE, home / "dagster.yaml")
    env = {"DAGSTER_HOME": str(home), "DAGSTER_PG_USERNAME": CREDENTIALS["user"],
           "DAGSTER_PG_PASSWORD": CREDENTIALS["password"], "DAGSTER_PG_HOST": CREDENTIALS["host"],
           "DAGSTER_PG_DB": database, "TTS_ASSETS_DATA_ROOT": str(tmp_path / "data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    admin.close()


def test_two_books_on_postgres_never_share_the_gpu(postgres_home, librivox_book, whisper_tiny, tmp_path):
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # The pool's size is set once when deploying (the profile has no default_limit: runs that
        # start together would each create the pool's slots, a race inside dagster-postgres).
        instance.event_log_storage.set_concurrency_slots("gpu", 1)

    workers = [
        subprocess.Popen([sys.executable, "-c", BUILD_ONE_BOOK, postgres_home["TTS_ASSETS_DATA_ROOT"], book,
                          str(librivox_book.audio), whisper_tiny], env={**os.environ, **postgres_home})
        for book in ("first", "second")
    ]
    assert [w.wait(timeout=600) for w in workers] == [0, 0]

    with dg.DagsterInstance.get() as instance:
        runs = [r for r in instance.get_runs() if r.job_name == "build_book"]
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        spans = []
        for run in runs:
            times = {
                e.dagster_event.event_type_value: e.timestamp
                for e in instance.all_logs(run.run_id)
                if e.is_dagster_event and e.dagster_event.step_key == "transcript_segments"
                and e.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS")
            }
            spans.append((times["STEP_START"], times["STEP_SUCCESS"]))
        (a_start, a_end), (b_start, b_end) = sorted(spans)
        assert a_end <= b_start, f"GPU steps overlapped: {spans}"
        voice = instance.get_latest_materialization_event(dg.AssetKey("book_clips"))
        assert voice is not None and voice.asset_materialization.metadata["clips"].value == 5


def test_simultaneous_claims_never_share_the_one_gpu_slot(postgres_home):
    """dagster-postgres's own claim let several of six simultaneous claims take the one slot (in 6
    and 11 of 20 rounds in two runs here); the profile's storage gives it to exactly one."""
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert type(storage).__name__ == "SlotSafePostgresEventLogStorage"
        storage.set_concurrency_slots("gpu", 1)
        for trial in range(20):
            barrier, claims = threading.Barrier(6), []

            def claim(run_id):
                barrier.wait()
                claims.append(storage._claim_concurrency_slot("gpu", run_id, "transcript_segments"))

            runs = [f"trial{trial}_{i}" for i in range(6)]
            threads = [threading.Thread(target=claim, args=(run_id,)) for run_id in runs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sum(c.name == "CLAIMED" for c in claims) == 1, f"trial {trial}: {claims}"
            for run_id in runs:
                storage.free_concurrency_slots_for_run(run_id)
