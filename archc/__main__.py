"""`python -m archc`: the same as the `archc` command."""

from .cli import entry

entry()
