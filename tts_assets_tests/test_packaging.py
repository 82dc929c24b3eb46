"""What the wheel ships: the library `tts_assets` and its subpackages alone, not the tests
(`tts_assets_tests`) nor the benchmarks (`bench/`).

The files are collected as `pip wheel` collects them, by setuptools' `build_py` under the project's
`pyproject.toml`, into a temporary folder (nothing is written into the checkout). The wheel itself
is not zipped: building one offline with `--no-build-isolation` needs the `wheel` package, which
the venv's setuptools (65) lacks, and its package list is the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_library_alone(tmp_path):
    lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
         "egg_info", "--egg-base", str(tmp_path), "build_py", "--build-lib", str(lib)],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    assert sorted(p.name for p in lib.iterdir()) == ["tts_assets"]
    (egg_info,) = tmp_path.glob("*.egg-info")
    assert (egg_info / "top_level.txt").read_text().split() == ["tts_assets"]
    shipped = {p.relative_to(lib).as_posix() for p in lib.rglob("*.py")}
    assert {"tts_assets/definitions.py", "tts_assets/defs/__init__.py", "tts_assets/qwen3/train.py",
            "tts_assets/xtts/train.py", "tts_assets/serve/app.py"} <= shipped  # the subpackages come along
    assert not [path for path in shipped if Path(path).stem in ("bench", "benchmarking")]
