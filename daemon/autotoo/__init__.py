"""autotoo: alert-driven Swift TOO requests and UKSSDC XRT products, exactly once.

The package is layered; dependencies point one way only:

    models/rules/pipeline (core)  <-  sources, clients (transports)  <-  daemon, cli

The core never imports a transport, a remote-API client or the CLI, and the clients never
import the pipeline. ``docs/architecture.md`` draws the whole picture.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("autotoo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
