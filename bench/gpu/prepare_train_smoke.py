"""Make the aligned voice that `train_smoke` trains on a lent GPU machine: the tests' five
LibriVox clips through this project's own book build and alignment (Dagster, PyAV, pocketsphinx:
none of them on the machine's image). Writes `<dest>/data` (the data root, about 2.5 MB).
From the repository root:
    .venv/bin/python -m bench.gpu.prepare_train_smoke [.gpu_smoke]"""

import shutil
import sys
import tempfile
from pathlib import Path

from bench.librivox import build_aligned_voice

dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".gpu_smoke")
with tempfile.TemporaryDirectory() as tmp:
    built = build_aligned_voice(Path(tmp) / "voice")
    shutil.rmtree(dest / "data", ignore_errors=True)
    shutil.copytree(built, dest / "data", ignore=shutil.ignore_patterns("books"))
print(dest / "data")
