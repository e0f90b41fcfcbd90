"""The health check a load balancer or orchestrator polls."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        current_app.logger.exception("health check failed")
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok"})
