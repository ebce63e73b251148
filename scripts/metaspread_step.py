"""MetaSpread's time per step at its default (Franssen) setting, early phase (388 cells).

Run with a Python that has `pip install metaspread` (it writes simulations_configs.csv
in the working directory); scripts/bench_body.py calls it side by side with seedsoil.
"""
import sys
import time

import metaspread  # noqa: F401  (writes simulations_configs.csv with defaults if missing)
import metaspread.configs as c
from metaspread.cancermodel import CancerModel
print("gridsize", c.gridsize, "grids", c.grids_number, "cells", c.number_of_initial_cells, flush=True)
m = CancerModel(c.number_of_initial_cells, c.gridsize, c.gridsize, c.grids_number, 10**6, 10**6, "bench", seed=1)
m.step()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
t0 = time.perf_counter()
for _ in range(n):
    m.step()
dt = (time.perf_counter() - t0) / n
print(f"METASPREAD_STEP_S {dt:.4f}", flush=True)
