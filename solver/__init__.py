"""seedsoil: a finite-element solver of the tumour microenvironment during metastasis.

Import order matters with the dolfinx-solver-real wheel: mpi4py must be loaded
before dolfinx/petsc4py so that libmpi is found.
"""

from mpi4py import MPI  # noqa: F401  (must precede dolfinx / petsc4py)

__version__ = "0.1.0"
