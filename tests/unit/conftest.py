"""Unit tests need no database: the fixtures that build one are refused here."""

from __future__ import annotations

import pytest


def _refuse(name: str):
    @pytest.fixture(name=name)
    def refused():
        pytest.fail(f"tests/unit needs no database; a test using {name!r} belongs in tests/db")

    return refused


app = _refuse("app")
db_app = _refuse("db_app")
sandbox_app = _refuse("sandbox_app")
