"""With Redis down nobody is locked out: limits fall back to each process's memory, the health
check says degraded, and shared limits resume when Redis answers again, without a restart."""

from __future__ import annotations

import socket
import subprocess
import threading
import time as real_time

import flask_limiter._extension as limiter_module
import pytest
import redis

from app.domain import users
from app.extensions import limiter
from tests.helpers.apps import dispose, make_app
from tests.helpers.builders import PASSWORD, make_user, sync_packs
from tests.helpers.databases import database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on a loopback port, to stop and start at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        pause = threading.Event()
        for _ in range(600):  # polls, each a connection attempt and at most 0.05 s of waiting
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pause.wait(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=300)
            self.proc = None


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def limiter_clock(monkeypatch):
    """Flask-Limiter retries a dead storage after a growing interval; let the test move its
    clock instead of waiting."""
    offset = [0.0]

    class Clock:
        @staticmethod
        def time() -> float:
            return real_time.time() + offset[0]

    monkeypatch.setattr(limiter_module, "time", Clock)
    return offset


def app_on(tmp_path, redis_url: str, **config):
    # The extension is one object per process: a storage marked dead by an earlier app (one
    # per process in production) would stay dead for this one.
    limiter._storage_dead = False
    app = make_app(
        database_url("sqlite", tmp_path),
        tmp_path,
        RATELIMIT_STORAGE_URI=redis_url,
        REDIS_URL=redis_url,
        **config,
    )
    with app.app_context():
        from app.domain.packs import seed_packages

        seed_packages()
    return app


def log_in(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    return client.post(
        "/login", data={"email": "buyer@example.com", "password": PASSWORD, "csrf_token": token}
    )


def test_with_redis_down_log_in_and_buying_work_and_health_says_degraded(
    tmp_path, stripe_fake, caplog
):
    app = app_on(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    try:
        with app.app_context():
            sync_packs()
            token = users.issue_token(make_user())
        assert log_in(app).status_code == 302
        response = app.test_client().post(
            "/api/v1/billing/credits/purchase",
            json={"package_code": "pro"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.json
        health = app.test_client().get("/healthz")
        assert health.status_code == 200
        assert health.json == {"status": "degraded", "database": "ok", "redis": "unreachable"}
        assert any("falling back to in-memory" in r.getMessage() for r in caplog.records)
    finally:
        dispose(app)
        limiter._storage_dead = False


def test_limits_are_shared_in_redis_fall_back_while_it_is_down_and_resume(
    tmp_path, redis_server, limiter_clock
):
    app = app_on(tmp_path, redis_server.url, LOGIN_RATE_LIMIT="100 per hour")
    try:
        with app.app_context():
            make_user()
        store = redis.Redis.from_url(redis_server.url)
        assert log_in(app).status_code == 302
        assert store.keys("*credits*"), "the log-in was not counted in Redis"
        assert app.test_client().get("/healthz").json["redis"] == "ok"

        redis_server.stop()
        assert log_in(app).status_code == 302, "Redis down locked the log-in out"
        assert app.test_client().get("/healthz").json["status"] == "degraded"

        redis_server.start()  # an empty Redis on the same port
        limiter_clock[0] += 3600  # past Flask-Limiter's wait before it tries the storage again
        assert log_in(app).status_code == 302
        assert log_in(app).status_code == 302
        assert store.keys("*credits*"), "counting did not move back to Redis"
        assert app.test_client().get("/healthz").json == {
            "status": "ok",
            "database": "ok",
            "redis": "ok",
        }
    finally:
        dispose(app)
        limiter._storage_dead = False
