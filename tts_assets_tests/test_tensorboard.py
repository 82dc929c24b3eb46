"""`tts-assets tensorboard` serves the training logs under the data root, on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tensorboard_serves_the_runs_under_models(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "data" / "models" / "anna" / "qwen3" / "tensorboard"))
    for step in range(3):
        writer.add_scalar("train/loss", 3.0 - step, step)
    writer.close()
    port = free_port()
    cli = os.path.join(os.path.dirname(sys.executable), "tts-assets")
    server = subprocess.Popen([cli, "tensorboard", str(port), "--data-root", str(tmp_path / "data")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        runs = None
        for _ in range(120):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=2)
                if response.status_code == 200 and response.json():
                    runs = response.json()
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert runs is not None, "TensorBoard did not come up"
        assert "train/loss" in runs["anna/qwen3/tensorboard"]
        listening = {c.laddr.ip for c in psutil.Process(server.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}  # loopback only unless --host says otherwise
    finally:
        server.terminate()
        server.wait(timeout=30)
