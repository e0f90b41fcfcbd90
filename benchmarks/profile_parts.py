"""What each part of the fulfilment and poll paths costs, read from a cProfile of the real
code: the inclusive time per request of the functions named here (parts nest, so the shares
do not add up to the whole). Nothing is replaced: every part runs as it does in production.

Each part names a function by `module:attribute`; the function object gives the file, line
and name cProfile keys its figures by, so a rename fails at import, not silently.
"""

from __future__ import annotations

import importlib
import inspect
import pstats
from typing import Any

PARTS: dict[str, dict[str, str]] = {
    "fulfil": {
        "the webhook view": "app.web.webhooks.views:stripe_webhook",
        "the signature check": "app.payments.signature:verify_event",
        "the event's handling": "app.payments.dispatch:handle_event",
        "the session's fulfilment": "app.payments.fulfilment:apply_session",
        "the credit": "app.payments.fulfilment:credit_purchase",
        "the status change": "app.domain.purchases:set_status",
        "the ledger posting": "app.ledger:post",
        "the audit records": "app.domain.audit:record",
        "the receipt (outbox row)": "app.domain.mail:enqueue_receipt",
    },
    "poll": {
        "the status view": "app.web.checkout.views:status",
        "the log-in's user load": "flask_login:LoginManager._load_user",
        "the template": "flask:render_template",
        "the rate limiter's check": "flask_limiter:Limiter._check_request_limit",
    },
}


def resolve(target: str) -> tuple[str, int, str]:
    """The (file, first line, name) cProfile records for `module:attribute.path`."""
    module_name, _, path = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for attribute in path.split("."):
        value = getattr(value, attribute)
    code = inspect.unwrap(value).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def cost_by_part(stats: pstats.Stats, path: str, requests: int) -> dict[str, Any]:
    """Per part of `path`: inclusive ms per request under cProfile and its share of the whole."""
    table: dict[Any, tuple] = stats.stats
    whole = stats.total_tt
    parts = {}
    for label, target in PARTS[path].items():
        key = resolve(target)
        if key not in table:
            raise RuntimeError(f"{path}: {target} never ran; has the path changed?")
        cumulative = table[key][3]
        parts[label] = {
            "ms_per_request": round(cumulative / requests * 1000, 3),
            "share": round(cumulative / whole, 3) if whole else 0.0,
        }
    return parts


def print_parts(path: str, parts: dict[str, Any]) -> None:
    print(f"{path}, by part (inclusive, under cProfile):")
    for label, figures in parts.items():
        print(f"  {label:32s} {figures['ms_per_request']:7.3f} ms  {figures['share']:6.1%}")
