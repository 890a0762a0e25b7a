"""``python -m lotline`` runs the CLI."""

from lotline.cli import main

main(prog_name="lotline")
