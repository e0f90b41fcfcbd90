"""WSGI entry point: `flask --app wsgi ...` and `gunicorn wsgi:app`."""

import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # A misconfiguration is one clear line, not a traceback.
    sys.exit(f"credits: cannot start: {exc}")
