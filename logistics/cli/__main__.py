"""`python -m logistics.cli` runs the command line."""

from logistics.cli.app import app

app()
