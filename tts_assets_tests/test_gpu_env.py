"""The nvidia-* wheels' library folders reach the loader's path before CUDA is touched."""

import os

from tts_assets.gpu import libraries as gpu


def test_nvidia_library_folders_go_on_the_library_path(monkeypatch):
    monkeypatch.setattr(gpu, "_prepared", None)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/other")
    dirs = gpu.prepare_cuda_libraries()
    names = {d.parent.name for d in dirs}
    assert {"cudnn", "cublas"} <= names  # installed with torch's CUDA build
    path = os.environ["LD_LIBRARY_PATH"].split(os.pathsep)
    assert path[-1] == "/opt/other" and all(str(d) in path for d in dirs)
    assert any((d / "libcudnn_ops.so.9").exists() for d in dirs)
    assert gpu.prepare_cuda_libraries() is dirs  # once per process


def test_cpu_fallback_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(gpu, "_prepared", None)
    monkeypatch.setattr(gpu, "driver_present", lambda: False)
    with caplog.at_level("INFO", logger="tts_assets.gpu"):
        gpu.prepare_cuda_libraries()
    assert "no CUDA driver on this machine" in caplog.text
