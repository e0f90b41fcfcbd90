"""The baseline: a bare Flask endpoint returning a fixed small JSON body.

Served by gunicorn with the project's own gunicorn.conf.py, in the same run as the app,
so every figure of the app is a ratio to what the stack itself can do on this machine.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare():
    """Return a fixed small JSON body."""
    return jsonify({"status": "ok"})
