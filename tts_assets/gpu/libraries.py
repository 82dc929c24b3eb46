"""CUDA libraries from the `nvidia-*` wheels, found before ctranslate2 or torch touch CUDA.

ctranslate2 (faster-whisper) dlopens cuDNN and cuBLAS by soname; without them on the loader's
path it dies with "Unable to load libcudnn_ops…" (the seed's LD_LIBRARY_PATH fix; WhisperX #954,
#1100). Setting LD_LIBRARY_PATH inside a running process does not reach the loader, so the
libraries are also preloaded with RTLD_GLOBAL, which does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PRELOAD = ("libcublas.so", "libcublasLt.so", "libcudnn.so", "libcudnn_ops.so", "libcudnn_cnn.so")
_prepared: list[Path] | None = None


def nvidia_library_dirs() -> list[Path]:
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(p for p in root.glob("*/lib") if p.is_dir())


def driver_present() -> bool:
    return ctypes.util.find_library("cuda") is not None


def prepare_cuda_libraries() -> list[Path]:
    """Put the wheels' CUDA library folders on LD_LIBRARY_PATH (for child processes) and preload
    cuBLAS/cuDNN when a driver is present. Idempotent; returns the folders."""
    global _prepared
    if _prepared is not None:
        return _prepared
    dirs = nvidia_library_dirs()
    current = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    missing = [str(d) for d in dirs if str(d) not in current]
    if missing:
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(missing + current)
    if driver_present():
        for directory in dirs:
            for prefix in PRELOAD:
                for library in sorted(directory.glob(prefix + "*")):
                    try:
                        ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
                    except OSError as exc:
                        log.warning("could not preload %s: %s", library, exc)
        log.info("CUDA libraries from %d nvidia-* folders preloaded", len(dirs))
    else:
        log.info("no CUDA driver on this machine: models run on the CPU")
    _prepared = dirs
    return dirs
