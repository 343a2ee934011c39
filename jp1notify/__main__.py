"""`python -m jp1notify`: the same as the `jp1notify` command."""

from jp1notify.cli import run

run()
