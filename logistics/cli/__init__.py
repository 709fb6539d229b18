"""The command line: a Typer app (the composition root) and its rendering."""

from logistics.cli.app import app

__all__ = ["app"]
