"""Runs every `>>>` example in the docstrings of the public modules."""

import doctest
import importlib
import pkgutil

import pytest

import keras_mpcl


def _modules():
    for info in pkgutil.walk_packages(keras_mpcl.__path__, prefix="keras_mpcl."):
        yield info.name


# Modules whose examples run no Keras backend code: scripts/test.sh runs them once.
_BACKEND_INDEPENDENT = ("keras_mpcl.data", "keras_mpcl.evaluation.", "keras_mpcl.validation",
                        "keras_mpcl.version", "keras_mpcl.training.config",
                        "keras_mpcl.training.report")
_BACKEND_DEPENDENT = ("keras_mpcl.evaluation.callback",)


def _param(name):
    once = name.startswith(_BACKEND_INDEPENDENT) and name not in _BACKEND_DEPENDENT
    return pytest.param(name, marks=pytest.mark.backend_independent) if once else name


@pytest.mark.parametrize("module_name", [_param(name) for name in sorted(_modules())])
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"keras": importlib.import_module("keras")}
    for test in finder.find(module, module_name, globs=dict(module.__dict__, **globs)):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
