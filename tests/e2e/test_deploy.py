"""The Docker image's command serves the app under gunicorn in production mode."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "Dockerfile has no exec-form CMD"
    return json.loads(match.group(1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dockerfile_runs_as_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.MULTILINE)
    assert re.search(r"^USER credits$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "APP_ENV=production" in text


def test_image_command_serves_healthz(tmp_path):
    cmd = dockerfile_cmd()
    assert cmd[0] == "gunicorn" and cmd[-1] == "wsgi:app"
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        *cmd[1:-1],
        "--bind",
        f"127.0.0.1:{port}",
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
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    body = json.loads(response.read())
                    headers = response.headers
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert body == {"status": "ok"}, (
            proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        )
        assert headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
