"""The ``oxify`` command line (``python -m oxify.cli`` works too)."""

from oxify.cli.main import main

__all__ = ["main"]
