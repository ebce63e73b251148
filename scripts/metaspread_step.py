"""MetaSpread's time per step at its default (Franssen) setting: the early phase (its 388
initial cells, empty secondaries) or, with a second argument N, a late phase with N cells
in every one of its three grids (placed through its API on the grid points nearest each
centre, 4 per point, 60 % mesenchymal, as seedsoil's bench_body.py --phase late seeds its
organs).

    ms/bin/python scripts/metaspread_step.py [steps] [late_cells]

Run with a Python that has `pip install metaspread` (it writes simulations_configs.csv
in the working directory); scripts/bench_body.py calls it side by side with seedsoil.
Prints wall and CPU (process) time per step; the CPU time is what a busy machine does
not inflate.
"""

import sys
import time

import metaspread  # noqa: F401  (writes simulations_configs.csv with defaults if missing)
import metaspread.configs as c
from metaspread.cancercell import CancerCell
from metaspread.cancermodel import CancerModel
from metaspread.quasicircle import find_quasi_circle

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
late = int(sys.argv[2]) if len(sys.argv) > 2 else 0
print(
    "gridsize", c.gridsize, "grids", c.grids_number, "cells", c.number_of_initial_cells, flush=True
)
m = CancerModel(
    c.number_of_initial_cells, c.gridsize, c.gridsize, c.grids_number, 10**6, 10**6, "bench", seed=1
)
if late:
    cap = c.carrying_capacity
    for g in range(c.grids_number):
        have = sum(1 for a in m.schedule.agents if a.agent_type == "cell" and a.grid_id == g + 1)
        n_M = round(0.6 * late) - (round(0.6 * have) if g == 0 else 0)
        points = find_quasi_circle(-(-late // cap), c.gridsize, c.gridsize)[1]
        for x, y, _ in points:
            room = cap - sum(
                1 for a in m.grids[g].get_cell_list_contents([(x, y)]) if a.agent_type == "cell"
            )
            for _ in range(min(room, late - have)):
                kind = "mesenchymal" if n_M > 0 else "epithelial"
                n_M -= 1
                a = CancerCell(
                    m.current_agent_id, m, m.grids[g], m.grid_ids[g], kind, m.ecm[g], m.mmp2[g]
                )
                m.current_agent_id += 1
                m.schedule.add(a)
                m.grids[g].place_agent(a, (int(x), int(y)))
                m.cancer_cells_counter[g] += 1
                have += 1
    print("late phase: cells per grid", m.cancer_cells_counter, flush=True)
m.step()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    m.step()
dt, dc = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
print(
    f"\nMETASPREAD_STEP_S {dt:.4f}\nMETASPREAD_CPU_S {dc:.4f}\ncells per grid at the end "
    f"{m.cancer_cells_counter}",
    flush=True,
)
