import os
import sys

from mpi4py import MPI  # noqa: F401  (before dolfinx / petsc4py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if MPI.COMM_WORLD.rank != 0:  # under mpirun only rank 0 reports
    sys.stdout = open(os.devnull, "w")
