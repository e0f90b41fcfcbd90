"""Every module of benchmarks/ imports, so a rename in app/ cannot break one silently (the
smoke run never reaches the profile or the reference handlers); and every part the profile
breaks a path into names a function that exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(benchmarks.__path__, prefix="benchmarks.")
    if info.name != "benchmarks.__main__"  # runs the benchmark when imported
)


def test_the_walk_finds_the_phases():
    assert {"benchmarks.cli", "benchmarks.phase_fulfil", "benchmarks.reference_app"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name):
    importlib.import_module(name)


def test_every_profiled_part_names_a_function():
    from benchmarks.profile_parts import PARTS, resolve

    for parts in PARTS.values():
        for target in parts.values():
            filename, line, name = resolve(target)
            assert (
                filename.endswith(".py")
                and line > 0
                and name == target.split(".")[-1].split(":")[-1]
            )
