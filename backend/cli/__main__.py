"""`python -m backend.cli`: the same as the `vitrine` command."""

from backend.cli import main

main()
