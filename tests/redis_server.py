"""Pytest plugin: starts a private redis-server for the test run.

Loaded with `-p tests.redis_server` (see pyproject.toml) so that it runs before
pytest-django imports the settings, which read REDIS_URL. Each run gets its own
server on a free port, so parallel runs never share data.
"""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int | None = None) -> tuple[subprocess.Popen, int]:
    """A redis-server on loopback with no persistence, ready when this returns."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; run deploy/scripts/bootstrap.sh")
    port = port or free_port()
    # With persistence off nothing is written to --dir; the system's temporary folder leaves nothing behind.
    workdir = tempfile.gettempdir()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


def stop_redis(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


if "TEST_REDIS_URL" in os.environ:
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
else:
    _process, _port = start_redis()
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{_port}/0"
    atexit.register(stop_redis, _process)
