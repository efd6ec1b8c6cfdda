"""``python -m portrait`` runs the command line."""

from portrait.cli import main

main()
