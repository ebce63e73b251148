"""Parity of the discrete cells across rank counts (docs/numerics.md).

    mpirun -n 2 python -m mpi4py scripts/parity.py [DIM]          # frozen fields: digest
    mpirun -n 2 python -m mpi4py scripts/parity.py coupled STEPS   # coupled run: state
Prints one JSON line (rank 0). Compare with a serial run: frozen-field digests must be
equal; the coupled state must agree to solver tolerance over the window.
"""

import json
import sys

from mpi4py import MPI

from solver.verification.cells import coupled_state, frozen_field_digest

if len(sys.argv) > 1 and sys.argv[1] == "coupled":
    out = coupled_state(MPI.COMM_WORLD, steps=int(sys.argv[2]) if len(sys.argv) > 2 else 300)
else:
    out = frozen_field_digest(MPI.COMM_WORLD, dim=int(sys.argv[1]) if len(sys.argv) > 1 else 2)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps(out))
