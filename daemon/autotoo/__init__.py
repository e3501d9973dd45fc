"""autotoo: alert-driven Swift TOO requests and UKSSDC XRT products, exactly once.

The package is layered; dependencies point one way only:

    models/rules/pipeline (core)  <-  sources, clients (transports)  <-  daemon, cli

The core never imports a transport, a remote-API client or the CLI, and the clients never
import the pipeline. ``docs/architecture.md`` draws the whole picture.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__`` on first use: importlib.metadata costs ~30 ms of every start."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version("autotoo")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
