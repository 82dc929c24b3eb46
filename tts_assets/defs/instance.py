"""The Dagster instance every command records its runs in: `$DAGSTER_HOME`, set up if new."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding dagster.yaml


def ensure_dagster_home(data_root: Path) -> Path:
    """Use `$DAGSTER_HOME`, or `<data_root>/dagster_home` when unset; give it the project's
    `dagster.yaml` (GPU pool, run monitoring) when it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_root / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").is_file():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
