"""``boxmask serve-fake`` as a command: port 0 prints the real port, a busy port is a
one-line error with a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx

COMMAND = [sys.executable, "-m", "boxmask.cli.main", "serve-fake"]


def test_busy_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*COMMAND, "--port", str(port), "--duration", "5"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == f"boxmask: error: cannot listen on 127.0.0.1:{port}: the port is in use\n"
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_bad_port_is_a_usage_error() -> None:
    done = subprocess.run(
        [*COMMAND, "--port", "70000"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "not a port number" in done.stderr


def test_port_zero_prints_the_real_port_and_serves_v1() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", "--duration", "60", "--batch-polls", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split(" on ", 1)[1].split(" ", 1)[0]
        port = int(url.rsplit(":", 1)[1])
        assert port > 0
        reply = httpx.get(f"{url}/v1/models", headers={"x-goog-api-key": "any"}, timeout=60)
        assert reply.status_code == 200 and reply.json()["models"]
    finally:
        process.terminate()
        process.wait(timeout=60)
