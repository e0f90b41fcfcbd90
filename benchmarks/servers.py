"""Gunicorn servers on 127.0.0.1 with the project's gunicorn.conf.py, and their workers' memory."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .config import ROOT


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_config(app_root: Path = ROOT) -> tuple[int, int]:
    """The workers and threads gunicorn.conf.py gives a server in this environment."""
    config = runpy.run_path(str(app_root / "gunicorn.conf.py"))
    return int(config["workers"]), int(config["threads"])


class Server:
    """One gunicorn master serving a WSGI app, started with the project's config file."""

    def __init__(
        self,
        name: str,
        wsgi: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        app_root: Path = ROOT,
        health_path: str = "/healthz",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.health_path = health_path
        gunicorn = Path(sys.executable).parent / "gunicorn"
        full_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        # The benchmark package must be importable for the bare app; the app comes from app_root.
        full_env["PYTHONPATH"] = os.pathsep.join([str(app_root), str(ROOT)])
        self.worker_count = int(full_env.get("GUNICORN_WORKERS") or gunicorn_config(app_root)[0])
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            # Each master gets its own control socket (gunicorn 27 shares one path by default).
            [
                str(gunicorn),
                "--config",
                str(app_root / "gunicorn.conf.py"),
                "--control-socket",
                str(log_dir / f"{name}.ctl"),
                wsgi,
            ],
            cwd=app_root,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server answers its health path with 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + self.health_path, timeout=2) as r:  # noqa: S310
                    # Every worker should have booted before any load starts.
                    if r.status == 200 and len(self.workers()) >= self.worker_count:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready; see {self.log_path}")

    def workers(self) -> list[int]:
        """Return the pids of the master's worker processes."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """Stop the master (and so its workers) that this object started."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def log_text(self) -> str:
        """Return what the server has logged so far."""
        return self.log_path.read_text(errors="replace")


def proc_status_kb(pid: int, field: str) -> int | None:
    """Return a field such as VmRSS or VmHWM of /proc/<pid>/status in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak(pid: int) -> bool:
    """Reset a process's peak RSS (VmHWM) to its current RSS (Linux clear_refs, value 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
