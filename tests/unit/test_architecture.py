"""The layout docs/architecture.md describes: layers, unique names, small files and functions."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
BASE = {"config", "extensions", "errors", "db", "models"}
# What each part of app/ may import from the others (its own part always).
MAY_IMPORT = {
    "config": set(),
    "extensions": set(),
    "errors": set(),
    "db": {"extensions", "errors"},
    "models": {"extensions", "db"},
    "ledger": BASE | {"domain.audit"},
    "domain": BASE | {"ledger"},
    "payments": BASE | {"domain", "ledger"},
    "web": BASE | {"domain", "ledger", "payments"},
    "cli": BASE | {"domain", "ledger", "payments"},
}
SHARED_NAMES = {"__init__.py", "views.py", "forms.py"}


def modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def part(module: str) -> str:
    """Return the part of app/ a dotted module name belongs to (app.ledger.posting -> ledger)."""
    return module.split(".")[1] if "." in module else "app"


def is_module(dotted: str) -> bool:
    path = APP.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
            for alias in node.names:
                # `from app.domain import audit` imports the module app.domain.audit.
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if is_module(submodule) else node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("app.")}
    return names


def allowed(source: str, target: str) -> bool:
    if source == "app" or part(target) == source:
        return True
    rules = MAY_IMPORT[source]
    dotted = target.removeprefix("app.")
    return (
        part(target) in rules
        or any(dotted.startswith(rule + ".") for rule in rules)
        or (dotted in rules)
    )


def test_each_part_imports_only_the_layers_below_it():
    wrong = []
    for path in modules():
        module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for target in imported(path):
            if not allowed(part(module), target):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_module_names_are_unique_and_the_root_is_small():
    names = Counter(p.name for p in modules() if p.name not in SHARED_NAMES)
    assert [n for n, c in names.items() if c > 1] == []
    root = [p.name for p in APP.glob("*.py")]
    assert len(root) <= 8, root


def test_no_file_over_400_lines_and_no_function_over_50():
    long = []
    for path in modules():
        source = path.read_text()
        if source.count("\n") > 400:
            long.append(f"{path.name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 50:
                    long.append(f"{path.name}:{node.name}: {length} lines")
    assert not long, "\n".join(long)
