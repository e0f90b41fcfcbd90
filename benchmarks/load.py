"""Load from wrk, bounded in time and in requests, with a Lua script per kind of request."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import USER_AGENT, WRK_SCRIPTS, Mode


@dataclass
class Result:
    requests: int
    seconds: float
    status_5xx: int
    status_other: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    counted: int | None = None  # answers that matched what the phase counts (webhooks)
    exhausted: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def counted_rps(self) -> float:
        return (self.counted or 0) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        data = {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "status_5xx": self.status_5xx,
            "status_other": self.status_other,
            "socket_errors": self.socket_errors,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
        }
        if self.counted is not None:
            data.update(counted=self.counted, counted_rps=round(self.counted_rps, 1))
        return data


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed (make bench installs it: apt-get install -y wrk)")
    return path


def _run(args: list[str], timeout: float) -> Result:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith('{"wrk_summary"'):
            summary = json.loads(line)["wrk_summary"]
    if proc.returncode != 0 or summary is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return Result(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        status_5xx=summary["status_5xx"],
        status_other=summary["status_other"],
        socket_errors=sum(
            summary[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        counted=summary.get("counted"),
        exhausted=bool(summary.get("exhausted_threads")),
    )


def _base_args(mode: Mode, seconds: int, connections: int | None, threads: int | None) -> list:
    threads = threads or mode.threads
    connections = max(connections or mode.connections, threads)
    return [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
    ]


def get_paths(
    base: str,
    lines: list[tuple[str, dict[str, str]]],
    file: Path,
    mode: Mode,
    seconds: int,
    *,
    connections: int | None = None,
    threads: int | None = None,
) -> Result:
    """GET each (path, headers) round-robin for `seconds`, at most max_requests per thread."""
    with open(file, "w") as fh:
        for path, headers in lines:
            fields = [path] + [
                f"{k}: {v}" for k, v in {"User-Agent": USER_AGENT, **headers}.items()
            ]
            fh.write("\t".join(fields) + "\n")
    args = _base_args(mode, seconds, connections, threads)
    args += ["-s", str(WRK_SCRIPTS / "paths.lua"), base, "--", str(file), str(mode.max_requests)]
    return _run(args, timeout=seconds + 60)


def post_bodies(
    base: str,
    path: str,
    bodies: list[tuple[str, str]],
    file: Path,
    mode: Mode,
    seconds: int,
    *,
    wrap: bool,
    expect: str,
    connections: int | None = None,
    threads: int | None = None,
) -> Result:
    """POST (signature, body) pairs; each once unless wrap, counting answers containing expect."""
    with open(file, "w") as fh:
        for signature, body in bodies:
            if "\n" in body or "\t" in signature:
                raise ValueError("bodies must be single-line JSON")
            fh.write(f"{signature}\t{body}\n")
    args = _base_args(mode, seconds, connections, threads)
    args += [
        "-s",
        str(WRK_SCRIPTS / "post_bodies.lua"),
        base,
        "--",
        str(file),
        path,
        "1" if wrap else "0",
        expect,
        str(mode.max_requests),
        str(threads or mode.threads),
    ]
    return _run(args, timeout=seconds + 60)
