"""Runs every `>>>` example in the docstrings of the public modules."""

import doctest
import importlib
import pkgutil

import pytest

import keras_mpcl


def _modules():
    for info in pkgutil.walk_packages(keras_mpcl.__path__, prefix="keras_mpcl."):
        yield info.name


@pytest.mark.parametrize("module_name", sorted(_modules()))
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"keras": importlib.import_module("keras")}
    for test in finder.find(module, module_name, globs=dict(module.__dict__, **globs)):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
