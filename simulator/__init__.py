"""simplan: GPU capacity planning for LLM inference.

The public API lives in :mod:`simplan.api`; the CLI (``simplan``) wraps it one to one.
Importing this package imports nothing else (the command line installs its interrupt
handler first, see :mod:`simplan.__main__`); ``__version__`` is read when first asked.
"""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("simplan")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'simplan' has no attribute {name!r}")
