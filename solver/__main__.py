"""``python -m solver``: the ``seedsoil`` command line (solver.cli)."""

from solver.cli import entry

entry()
