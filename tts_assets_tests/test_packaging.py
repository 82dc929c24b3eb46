"""What the wheel ships: the library `tts_assets` and its subpackages alone, not the tests
(`tts_assets_tests`) nor the benchmarks (`bench/`). The wheel is built as a user would build it,
offline (`--no-build-isolation`: the venv's setuptools and `wheel`), from a copy of the sources in a
temporary folder (setuptools builds in the source tree, and a stale `build/` would leak into it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_library_alone(tmp_path):
    source = tmp_path / "source"
    for name in ("tts_assets", "tts_assets_tests", "bench"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("tts_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"tts_assets"}
    (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["tts_assets"]
    assert {"tts_assets/definitions.py", "tts_assets/defs/__init__.py", "tts_assets/qwen3/train.py",
            "tts_assets/xtts/train.py", "tts_assets/serve/app.py"} <= set(names)  # the subpackages come along
