"""Every public callable of keras_mpcl has complete type hints (issue #12).

Public means listed in the `__all__` of `keras_mpcl` or of one of its
subpackages; for a class, its `__init__` and each public method, property,
classmethod and staticmethod defined on it or on a keras_mpcl base class.
"""

import importlib
import inspect
import pkgutil

import pytest

import keras_mpcl

pytestmark = pytest.mark.backend_independent

HOW_TO_FIX = (
    "Annotate every parameter (self, cls, *args and **kwargs excepted) and the "
    "return (`-> None` when nothing is returned). The module should start with "
    "`from __future__ import annotations` and import names used only in "
    "annotations under `if TYPE_CHECKING:`. keras_mpcl/typing.py has the shared "
    "aliases: `Tensor` (a tensor of the active Keras backend), `PathLike`, "
    "`EncoderLike` and `ModelT`."
)


def _packages():
    yield keras_mpcl
    for info in pkgutil.walk_packages(keras_mpcl.__path__, prefix="keras_mpcl."):
        if info.ispkg:
            yield importlib.import_module(info.name)


def _methods(cls):
    """`(name, function)` of the public methods of `cls` and its keras_mpcl bases."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("keras_mpcl"):
            continue
        for name, value in vars(klass).items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                for accessor in (value.fget, value.fset):
                    if accessor is not None:
                        yield name, accessor
            elif inspect.isfunction(value):
                yield name, value


def public_callables():
    """`{function: public dotted name}` of every public function and method."""
    found = {}
    for package in _packages():
        for name in getattr(package, "__all__", ()):
            obj = getattr(package, name)
            where = f"{package.__name__}.{name}"
            if inspect.isclass(obj):
                for method_name, function in _methods(obj):
                    found.setdefault(function, f"{where}.{method_name}")
            elif inspect.isroutine(obj):
                found.setdefault(obj, where)
    return found


def missing_annotations(function):
    """Names of the parameters lacking an annotation, plus `"return"` if it lacks one."""
    signature = inspect.signature(function)
    missing = [
        p.name
        for i, p in enumerate(signature.parameters.values())
        if p.annotation is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and not (i == 0 and p.name in ("self", "cls"))
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_the_walk_finds_the_public_api():
    names = set(public_callables().values())
    for expected in (
        "keras_mpcl.group_dataset",
        "keras_mpcl.MultiPositiveContrastiveLoss.call",
        "keras_mpcl.TranslationGroups.select_languages",
        "keras_mpcl.distribution.configure",
        "keras_mpcl.evaluation.EvaluationCallback.__init__",
        "keras_mpcl.training.cached_training",
    ):
        assert expected in names


def test_public_callables_have_type_hints():
    lacking = []
    for function, name in public_callables().items():
        missing = missing_annotations(function)
        if missing:
            defined = f"{function.__module__}.{function.__qualname__}"
            lacking.append(f"  {name} (defined as {defined}): {', '.join(missing)}")
    assert not lacking, (
        f"{len(lacking)} public callable(s) lack type hints. {HOW_TO_FIX}\n"
        + "\n".join(sorted(lacking))
    )
