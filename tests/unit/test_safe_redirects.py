"""Only a local path is a post-login redirect target: browsers treat ///host as //host."""

from __future__ import annotations

import pytest

from app.web.responses import is_safe_next


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "///evil.example",
        "////evil.example/x",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
        None,
    ],
)
def test_anything_a_browser_could_take_off_site_is_refused(target):
    assert not is_safe_next(target)


@pytest.mark.parametrize("target", ["/", "/credits/purchase", "/credits/history?cursor=abc"])
def test_local_paths_are_accepted(target):
    assert is_safe_next(target)
