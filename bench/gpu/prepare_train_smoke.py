"""Make the aligned voice that `train_smoke.py` trains on a lent GPU machine: the tests' five
LibriVox clips through this project's own book build and alignment (Dagster, PyAV, pocketsphinx:
none of them on the machine's image). Writes `<dest>/data` (the data root, about 2.5 MB).
    .venv/bin/python bench/gpu/prepare_train_smoke.py [.gpu_smoke]"""

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tts_assets_tests.qwen3_fixtures import build_aligned_voice  # noqa: E402

dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".gpu_smoke")
with tempfile.TemporaryDirectory() as tmp:
    built = build_aligned_voice(Path(tmp) / "voice")
    shutil.rmtree(dest / "data", ignore_errors=True)
    shutil.copytree(built, dest / "data", ignore=shutil.ignore_patterns("books"))
print(dest / "data")
