# # A multi-organ run from Python
#
# This example drives seedsoil from Python on a case with three organs: a primary tumour
# site and two secondary sites (a liver and a lung section), coupled only through the
# blood. It shows how to
#
# - load a case file and change a few of its values in Python,
# - run it with a callback that reports the cascade while it runs,
# - read an organ's fields (dolfinx Functions: their values and integrals) and its cells
#   (positions and phenotypes),
# - plot the fields and the cells of every organ.
#
# It runs in a few seconds, on one rank or several:
#
#     python docs/examples/multiorgan.py [OUTDIR]
#     mpirun -n 2 python docs/examples/multiorgan.py [OUTDIR]
#
# The test suite runs it both ways (tests/system/test_examples.py). The fields and their units
# are listed in docs/fields.md; the model behind them in docs/model.md.

import sys
from pathlib import Path

import matplotlib
from mpi4py import MPI  # before dolfinx: it loads the MPI library dolfinx links to

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np
import ufl
from dolfinx import fem

from solver import config
from solver.fields import registry
from solver.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("output") / "multiorgan_example"

# ## The case
#
# `config.load` reads a case file and checks it against the schema (a wrong key or value
# stops here with a message naming the file and the key). `overrides` take the same
# `key=value` strings as the command line's `--set`; here they shrink the demo's primary
# site to a 0.2 x 0.2 window (0.4 mm) with its vessels next to the tumour, so that the run
# takes seconds.

case = config.load(
    ROOT / "cases" / "demo.toml",
    overrides=[
        "primary.geometry.size=[0.2, 0.2]",
        "primary.geometry.h=0.01",
        "primary.geometry.vessel_min_distance=0.0",
        "primary.geometry.vessel_radius=0.012",
        "primary.geometry.ruptured_vessels=4",
    ],
)

# A case is a tree of pydantic models, so values can also be set as attributes; each
# assignment is checked as the file is (`case.time.steps = -1` raises an error). A short
# transit through the blood and a blood in which every cell survives make arrivals happen
# within the 60 steps of this run (the demo's own values take thousands of steps).

case.time.steps = 60
case.output.every = 20
case.circulation.T_V = 0.01  # time in the blood
case.circulation.P_s = 1.0  # survival of a single cell in the blood
case.circulation.P_C = 1.0  # ... and of a cluster
case.cells.D_M = 0.01  # fast mesenchymal cells: they reach the vessels at once
rank0 = MPI.COMM_WORLD.rank == 0
if rank0:
    print(
        f"case {case.name}: organs {[o.name for o in case.organs()]}, {case.time.steps} steps "
        f"of {case.time.dt} ({case.scales.time_s * case.time.dt / 3600:.3g} h each)"
    )

# ## The run
#
# `Simulation` builds every organ (mesh, fields, cells) and writes the manifest; `run` steps
# them and writes the outputs every `output.every` steps. The callback is called after every
# step on every rank, with the simulation, the step and the time. `census()` is the
# cascade's ledger (cells alive, in the blood, arrived, ...); it is collective, so every
# rank calls it and rank 0 prints.

sim = Simulation(case, outdir=outdir, quiet=True)


def report(sim, n, t):
    if n % 20:
        return
    ledger = sim.census()
    if rank0:
        print(
            f"step {n:3d}: {ledger['alive']} cells in the organs, {ledger['in_blood']} in the "
            f"blood, {ledger['intravasated']} intravasated, {ledger['arrived']} arrived"
        )


final = sim.run(callback=report)

# `run` returns the metrics of the last output, keyed by organ: the same columns as
# `OUTDIR/metrics.csv`.

if rank0:
    for organ in sim.names:
        print(
            f"{organ}: {final[f'{organ}.cells']:.0f} cells, {final[f'{organ}.lesions']} lesions, "
            f"ECM lost {100 * final[f'{organ}.ecm_lost_fraction']:.2g} %"
        )

# ## Fields and cells
#
# On several ranks the organs are shared out among them (`parallel.organs = "split"`, the
# default): `sim.organs` holds this rank's organs, and `sim.everywhere(f)` evaluates
# `f(organ)` on the ranks that hold each organ and returns `{organ name: value}` on every
# rank. `f` may use the organ's communicator `organ.comm`, and a value from the organ's
# first rank is the one returned.
#
# An organ's fields are dolfinx Functions on its P1 space, by symbol (docs/fields.md):
# `organ.fields["o"]` is oxygen. A rank holds the values of its own dofs first
# (`organ.n_owned` of them), then ghosts. An integral is a dolfinx form assembled on each
# rank and summed over the organ's ranks.


def summary(organ):
    """Integral and range of some fields, and the organ's cells gathered on its first rank."""
    out = {}
    for name in ("w", "o", "N"):
        f = organ.fields[name]
        mine = f.x.array[: organ.n_owned]
        total = organ.comm.allreduce(fem.assemble_scalar(fem.form(f * ufl.dx)), op=MPI.SUM)
        low = organ.comm.allreduce(mine.min(), op=MPI.MIN)
        high = organ.comm.allreduce(mine.max(), op=MPI.MAX)
        out[name] = (total, low, high)
    # The cells are arrays, one row per cell (solver/cells/population.py).
    pop = organ.cells.pop
    xy = organ.V.tabulate_dof_coordinates()[: organ.n_owned, :2]
    oxygen = organ.fields["o"].x.array[: organ.n_owned]
    parts = organ.comm.gather((pop.x, pop.phenotype, xy, oxygen))
    if organ.comm.rank == 0:
        gathered = (np.concatenate(p) for p in zip(*parts))
        out["x"], out["phenotype"], out["dofs"], out["o_values"] = gathered
    return out


data = sim.everywhere(summary)
if rank0:
    for organ, d in data.items():
        for name in ("w", "o", "N"):
            total, low, high = d[name]
            print(
                f"{organ} {registry.label(name)}: integral {total:.4g}, "
                f"range {low:.3g} .. {high:.3g}"
            )
        print(f"{organ}: {len(d['x'])} cells, {int((d['phenotype'] == 1).sum())} mesenchymal")

# ## A figure
#
# Each organ's oxygen (the cells take it up: the primary's tumour and the colonies are
# hypoxic) with its cells on top, coloured by phenotype. The labels come from the registry
# of fields. `seedsoil plot OUTDIR` (or `solver.plots.plot(OUTDIR)`)
# draws the standard figures of a run from its output folder instead.

if rank0:
    fig, axes = plt.subplots(1, len(data), figsize=(4.2 * len(data), 3.8))
    for ax, (organ, d) in zip(axes, data.items()):
        shade = ax.tricontourf(d["dofs"][:, 0], d["dofs"][:, 1], d["o_values"], levels=20)
        fig.colorbar(shade, ax=ax, label=registry.label("o"), shrink=0.8)
        for code, colour in ((0, "tab:blue"), (1, "tab:red")):
            mine = d["phenotype"] == code
            ax.scatter(
                d["x"][mine, 0],
                d["x"][mine, 1],
                s=3,
                c=colour,
                label=("epithelial", "mesenchymal")[code],
            )
        ax.set(title=organ, xlabel="x (length unit: scales.length_cm)", ylabel="y", aspect="equal")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(outdir / "multiorgan_example.png", dpi=100)
    print(f"figure: {outdir / 'multiorgan_example.png'}")
