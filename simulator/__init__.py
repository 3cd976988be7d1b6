"""simplan: GPU capacity planning for LLM inference.

The public API lives in :mod:`simplan.api`; the CLI (``simplan``) wraps it one to one.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("simplan")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
