import os

import pytest
from hypothesis import settings
from mpi4py import MPI  # noqa: F401  (before dolfinx / petsc4py)

# Property tests draw the same examples on every run and every rank: under mpirun each rank
# runs its own engine, and engines that drew (or shrank) differently would call different
# collectives and hang; a failure found once is found again, on any machine.
settings.register_profile("seedsoil", derandomize=True, database=None)
settings.load_profile("seedsoil")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # Under mpirun only rank 0 reports; the others still run every test (collectives),
    # and their failures still fail the job through the exit code.
    if MPI.COMM_WORLD.rank != 0:
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)
