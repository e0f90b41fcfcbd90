"""The health check a load balancer or orchestrator polls: each dependency, and whether the
app can serve at all (only the database is essential)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db, limiter

bp = Blueprint("health", __name__)


def database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unreachable
        current_app.logger.exception("health check: the database does not answer")
        db.session.rollback()
        return "unreachable"
    return "ok"


def redis_state() -> str:
    if not current_app.config.get("REDIS_URL"):
        return "not_configured"
    try:
        answers = limiter.storage.check()
    except Exception:  # noqa: BLE001 - any failure means unreachable
        answers = False
    if not answers:
        current_app.logger.warning("health check: Redis does not answer; limits are per process")
    return "ok" if answers else "unreachable"


@bp.get("/healthz")
def healthz():
    """Report each dependency; 503 only when the database is down (nothing works without it),
    `degraded` while Redis is down (rate limits are counted per process meanwhile)."""
    report = {"database": database_state(), "redis": redis_state()}
    if report["database"] != "ok":
        return jsonify({"status": "error", **report}), 503
    degraded = report["redis"] == "unreachable"
    return jsonify({"status": "degraded" if degraded else "ok", **report})
