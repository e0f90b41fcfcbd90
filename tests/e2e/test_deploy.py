"""The Docker image's command serves the app under gunicorn in production mode."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "Dockerfile has no exec-form CMD"
    return json.loads(match.group(1))


def listening_socket() -> socket.socket:
    """Bind and listen on a free port, so a request waits in the backlog until a worker is up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def healthz(url: str, proc: subprocess.Popen, seconds: float = 300) -> tuple[Any, Any]:
    """Wait for gunicorn to answer /healthz; return its body and headers (None: no answer).

    The socket listens before gunicorn starts, so each request simply waits until a worker
    accepts it; a refused or dropped one (a worker restarting) is tried again, without sleeping,
    until gunicorn exits or the generous deadline passes.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return json.loads(response.read()), response.headers
        except (OSError, http.client.HTTPException):  # URLError, TimeoutError, resets
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)  # a pause that ends early if gunicorn exits
    return None, None


def healthcheck_argv() -> list[str]:
    """The HEALTHCHECK's python -c command, to run with this interpreter."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r'CMD python -c "(.*)"$', text, re.MULTILINE)
    assert match, "the HEALTHCHECK is not a python -c command"
    return [sys.executable, "-c", match.group(1)]


def test_dockerfile_runs_as_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.MULTILINE)
    assert re.search(r"^USER credits$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "APP_ENV=production" in text
    assert "--require-hashes -r requirements.lock" in text
    assert not re.search(r"pip install[^\n]* \.$", text, re.MULTILINE), (
        "the code is installed twice"
    )


def test_image_command_serves_healthz(tmp_path):
    cmd = dockerfile_cmd()
    assert cmd[0] == "gunicorn" and cmd[-1] == "wsgi:app"
    sock = listening_socket()
    port = sock.getsockname()[1]
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        *cmd[1:-1],
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        "1",
        cmd[-1],
    ]
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "STRIPE_SECRET_KEY": "sk_test_deploy",
        "STRIPE_WEBHOOK_SECRET": "whsec_deploy",
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=[sock.fileno()],
    )
    sock.close()  # gunicorn holds the socket now; if it dies, requests are refused at once
    try:
        body, headers = healthz(f"http://127.0.0.1:{port}/healthz", proc)
        assert body == {"status": "ok", "database": "ok", "redis": "not_configured"}, (
            proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        )
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        # The image's health check asks the port gunicorn binds, not a fixed one.
        check = subprocess.run(
            healthcheck_argv(),
            env={**os.environ, "GUNICORN_BIND": f"0.0.0.0:{port}"},
            timeout=300,
            check=False,
        )
        assert check.returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
