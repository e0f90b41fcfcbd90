"""The README's scripted walkthrough works when pasted as it is, against a running server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path

from werkzeug.serving import make_server

from app.extensions import db
from tests.helpers.apps import dispose
from tests.helpers.builders import make_user
from tests.helpers.sandbox_driver import sandbox_app_for

ROOT = Path(__file__).resolve().parents[2]


def walkthrough_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("4. Script it instead", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README has no scripted walkthrough"
    return "\n".join(line.removeprefix("   ") for line in match.group(1).splitlines())


def test_the_scripted_walkthrough_buys_and_shows_the_new_balance(tmp_path):
    app = sandbox_app_for(tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["APP_BASE_URL"] = base
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app.app_context():
            make_user("demo@example.com")
            url = str(db.engine.url)
        env = {
            **os.environ,
            "BASE": base,
            "APP_ENV": "development",
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
        env.pop("STRIPE_SECRET_KEY", None)
        done = subprocess.run(
            ["bash", "-e", "-c", walkthrough_script()],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.strip().splitlines()
        assert lines[-2] == "purchase completed", done.stdout + done.stderr
        assert json.loads(lines[-1]) == {"balance": 1000}
    finally:
        server.shutdown()
        server.server_close()
        app.extensions["stripe_sandbox"].close()
        dispose(app)
