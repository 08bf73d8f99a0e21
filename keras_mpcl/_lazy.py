"""Package attributes imported on first use (PEP 562 module `__getattr__`)."""

import importlib
import sys


def lazy_attributes(package, exports):
    """`__getattr__` and `__dir__` for `package` that import each export on first use.

    Args:
        package: str. The package's `__name__`; it must be in `sys.modules`.
        exports: dict. Public name -> absolute module path. A name whose module
            is `f"{package}.{name}"` is that module itself; any other is an
            attribute of its module. A loaded value is cached on the package.

    Returns:
        The pair `(__getattr__, __dir__)` to assign in the package's `__init__`.
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if exports[name] == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
