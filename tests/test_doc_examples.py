"""Every docstring example outside the engine runs as written (the engine's run in
tests/engine/test_api_docs.py): an example is documentation a reader trusts."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import producer
import tui

MODULES = sorted(
    m.name
    for package in (producer, tui)
    for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    if not m.ispkg
)


def test_modules_with_examples_are_found() -> None:
    finder = doctest.DocTestFinder()
    with_examples = [
        m for m in MODULES if any(t.examples for t in finder.find(importlib.import_module(m)))
    ]
    assert "tui.widgets.chart" in with_examples and "tui.runtime.format" in with_examples


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run_as_documented(module: str) -> None:
    failed, _ = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert failed == 0
