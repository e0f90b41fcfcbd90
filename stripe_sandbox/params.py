"""Stripe's form encoding (`a[b][0][c]=v`, `x[]=v`) and parameter checks with Stripe's errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidRequest

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")

Params = dict[str, Any]


def parse(pairs: Iterable[tuple[str, str]]) -> Params:
    """Turn form/query pairs into nested dicts, with numeric or `[]` keys as lists."""
    root: Params = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise InvalidRequest(f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for i, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise InvalidRequest(f"Invalid value for {key}.", param=key)
                node = child
    return _listify(root, in_metadata=False)


def _listify(node: Any, *, in_metadata: bool) -> Any:
    """Convert dicts keyed 0..n into lists, except metadata (whose keys are free text)."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, in_metadata=k == "metadata") for k, v in node.items()}
    if not in_metadata and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def check_known(params: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Reject parameters the endpoint does not take, as Stripe does."""
    allowed = set(allowed)
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise InvalidRequest(
                f"Received unknown parameter: {full}", param=full, code="parameter_unknown"
            )


def missing(label: str) -> InvalidRequest:
    """Return Stripe's error for a required parameter that was not sent."""
    return InvalidRequest(
        f"Missing required param: {label}.", param=label, code="parameter_missing"
    )


def required(params: Mapping[str, Any], name: str, label: str | None = None) -> Any:
    """Return a parameter that must be present and non-empty."""
    value = params.get(name)
    if value in (None, ""):
        raise missing(label or name)
    return value


def string(params: Mapping[str, Any], name: str, label: str | None = None) -> str | None:
    """Return a string parameter; an empty string means unset."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        label = label or name
        raise InvalidRequest(f"Invalid string: {value!r}", param=label, code="parameter_invalid")
    return value


def integer(
    params: Mapping[str, Any],
    name: str,
    *,
    label: str | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """Return an integer parameter, or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    label = label or name
    digits = value[1:] if isinstance(value, str) and value.startswith("-") else value
    if not isinstance(digits, str) or not digits.isdigit():
        raise InvalidRequest(
            f"Invalid integer: {value}", param=label, code="parameter_invalid_integer"
        )
    number = int(value)
    if minimum is not None and number < minimum:
        raise InvalidRequest(
            f"This value must be greater than or equal to {minimum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    if maximum is not None and number > maximum:
        raise InvalidRequest(
            f"This value must be less than or equal to {maximum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    return number


def boolean(params: Mapping[str, Any], name: str) -> bool | None:
    """Return a boolean parameter ("true"/"false"), or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise InvalidRequest(f"Invalid boolean: {value}", param=name, code="parameter_invalid_boolean")


def choice(
    params: Mapping[str, Any], name: str, options: Iterable[str], label: str | None = None
) -> str | None:
    """Return an enum parameter, rejecting values outside `options`."""
    value = string(params, name, label)
    options = list(options)
    if value is not None and value not in options:
        label = label or name
        listed = ", ".join(f"`{o}`" for o in options)
        raise InvalidRequest(
            f"Invalid {label}: must be one of {listed}", param=label, code="parameter_invalid_enum"
        )
    return value


def string_list(params: Mapping[str, Any], name: str) -> list[str] | None:
    """Return an array-of-strings parameter (`x[]=a` or `x[0]=a`)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"Invalid array: {name}", param=name, code="parameter_invalid")
    return value


def metadata(
    params: Mapping[str, Any], current: Mapping[str, str] | None = None, name: str = "metadata"
) -> dict[str, str]:
    """Apply a metadata update as Stripe does: `k=` deletes a key, `metadata=` clears all."""
    merged = dict(current or {})
    value = params.get(name)
    if value is None:
        return merged
    if value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidRequest("Invalid metadata: must be a hash of strings.", param=name)
    for key, item in value.items():
        if len(key) > 40 or len(item) > 500:
            raise InvalidRequest(
                "Metadata keys can be up to 40 characters and values up to 500 characters.",
                param=f"{name}[{key}]",
            )
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    if len(merged) > 50:
        raise InvalidRequest("Metadata can have up to 50 keys.", param=name)
    return merged


def created_filter(params: Mapping[str, Any], name: str = "created") -> list[tuple[str, list]]:
    """Return SQL fragments for `created`, `created[gte]` and friends."""
    value = params.get(name)
    if value is None or value == "":
        return []
    ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    if isinstance(value, str):
        return [("created = ?", [integer(params, name)])]
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid {name}", param=name)
    check_known(value, ops, prefix=name)
    return [
        (f"created {ops[op]} ?", [integer(value, op, label=f"{name}[{op}]")])
        for op in value
        if value[op] != ""
    ]


def page(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the pagination arguments of a list request."""
    limit = integer(params, "limit", minimum=1, maximum=100)
    return {
        "limit": 10 if limit is None else limit,
        "starting_after": string(params, "starting_after"),
        "ending_before": string(params, "ending_before"),
    }


PAGE_PARAMS = ("limit", "starting_after", "ending_before", "expand")
