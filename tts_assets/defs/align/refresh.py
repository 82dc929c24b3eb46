"""The review page's refresh: a run of the voice's aligned dataset through Dagster (the `align_voice`
job, recorded in $DAGSTER_HOME like the CLI's runs, so the Dagster UI shows it), in a thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tts_assets.layout import DataLayout


@dataclass
class AlignRefresh:
    layout: DataLayout
    _state: dict[str, dict] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, voice: str) -> dict:
        """Start aligning `voice` unless a refresh of it is running; its state."""
        with self._lock:
            if self._state.get(voice, {}).get("status") == "running":
                return self._state[voice]
            self._state[voice] = {"status": "running", "run_id": None, "message": ""}
        threading.Thread(target=self._run, args=(voice,), daemon=True, name=f"align-{voice}").start()
        return self._state[voice]

    def state(self, voice: str) -> dict | None:
        return self._state.get(voice)

    def _run(self, voice: str) -> None:
        import dagster as dg

        from tts_assets.defs.instance import ensure_dagster_home
        from tts_assets.defs.launch import failure_reason, run_voice_job

        try:
            ensure_dagster_home(self.layout.root)
            with dg.DagsterInstance.get() as instance:
                run = run_voice_job(instance, "align_voice", voice)
            state = {"status": "succeeded" if run.success else "failed", "run_id": run.run_id,
                     "message": "" if run.success else failure_reason(run)}
        except Exception as exc:  # noqa: BLE001 - the page shows why, the server keeps serving
            state = {"status": "failed", "run_id": None, "message": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._state[voice] = state
