import os

import pytest
from mpi4py import MPI  # noqa: F401  (before dolfinx / petsc4py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # Under mpirun only rank 0 reports; the others still run every test (collectives),
    # and their failures still fail the job through the exit code.
    if MPI.COMM_WORLD.rank != 0:
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)
