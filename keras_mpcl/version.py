"""The one version string of keras-mpcl."""

__version__ = "0.1.0.dev0"
