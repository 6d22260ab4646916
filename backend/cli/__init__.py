"""The `vitrine` command line."""

from backend.cli.commands import main

__all__ = ["main"]
