"""The Examples sections of healthopt.models and healthopt.milp run as doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import healthopt.milp
import healthopt.models

MODULES = sorted(
    f"{pkg.__name__}.{info.name}"
    for pkg in (healthopt.milp, healthopt.models)
    for info in pkgutil.iter_modules(pkg.__path__)
)
#: Modules whose public classes carry a runnable Examples section (the formulation's check).
WITH_EXAMPLES = {
    "healthopt.models.coverage": ["LSCP", "MCLP"],
    "healthopt.models.double_standard": ["BackupCoverage"],
    "healthopt.models.median": ["PMedian"],
    "healthopt.models.center": ["PCenter"],
    "healthopt.models.expected": ["MEXCLP"],
    "healthopt.models.result": ["LocationResult.summary"],
    "healthopt.milp.problem": ["MilpProblem"],
    "healthopt.milp.diagnose": ["relaxation_culprits"],
}


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


@pytest.mark.parametrize("name", sorted(WITH_EXAMPLES))
def test_models_document_formulation_and_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    tests = {t.name.removeprefix(f"{name}."): t for t in finder.find(module) if t.examples}
    for obj in WITH_EXAMPLES[name]:
        assert obj in tests, f"{name}.{obj} has no runnable Examples section"
        if "." not in obj and name.startswith("healthopt.models"):
            assert ".. math::" in (tests[obj].docstring or ""), f"{name}.{obj} has no LaTeX formulation"
