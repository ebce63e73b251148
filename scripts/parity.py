"""Bitwise parity of the discrete cells across rank counts with frozen fields.

    mpirun -n 2 python -m mpi4py scripts/parity.py   # prints one JSON line (rank 0)
Compare its digest with a serial run: they must be equal.
"""

import json
import sys

from mpi4py import MPI

from solver.verification.cells import frozen_field_digest

dim = int(sys.argv[1]) if len(sys.argv) > 1 else 2
out = frozen_field_digest(MPI.COMM_WORLD, dim=dim)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps(out))
