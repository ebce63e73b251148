#!/bin/bash
# An example SLURM job for seedsoil on a cluster: submit with `sbatch scripts/slurm_example.sh`
# from the repository (after `make demo` or `make test` has created .venv there, or with
# the Docker image converted for Apptainer: see the end). Adjust the partition, account,
# module names and sizes to your site.
#
# What it does: runs a case on all the job's ranks, checkpointing every CHECKPOINT steps;
# SLURM sends SIGUSR1 (--signal) ten minutes before the wall-clock limit, and seedsoil
# then writes a checkpoint at the next step and exits with code 3 (stopped, outputs
# valid, the manifest says complete: false); a failed solve exits with 4. Submitting the same script again continues
# from the checkpoint (`seedsoil restart`) on any rank count.
#
#SBATCH --job-name=seedsoil
#SBATCH --nodes=1
#SBATCH --ntasks=64                 # MPI ranks; organs are split among them (parallel.organs)
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=2G            # the scaling case needs ~0.8 kB per field unknown all-in
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@600         # to the batch shell, which passes it on to the ranks
#SBATCH --output=seedsoil-%j.log

set -euo pipefail
CASE=${CASE:-cases/scaling_3d.toml}
OUT=${OUT:-output/$(basename "$CASE" .toml)}
CHECKPOINT=${CHECKPOINT:-500}
SEEDSOIL=${SEEDSOIL:-.venv/bin/seedsoil}
read -r -a EXTRA <<< "${ARGS:-}"     # more arguments for `seedsoil run`, e.g. "--set time.steps=2000"

# One thread per rank: PETSc, BLAS and gmsh must not oversubscribe the cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# A shared cache for dolfinx's compiled forms, so the ranks compile each form once.
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$PWD/.cache}
# module load python/3.12      # your site's modules, if .venv was built with them

# The venv's MPI (MPICH from PyPI) runs within a node. Across nodes use the site's MPI:
# build mpi4py/petsc4py against it, or run the Docker image under Apptainer with the
# host's MPI bound in (apptainer exec --bind ... seedsoil.sif seedsoil ...).
# A complete checkpoint has its meta.json; a job killed while writing one may have left
# it in checkpoint.tmp or checkpoint.prev (docs/reliability.md): restart finds it.
if compgen -G "$OUT/checkpoint*/meta.json" >/dev/null; then
    CMD=("$SEEDSOIL" restart "$OUT")
else
    CMD=("$SEEDSOIL" run "$CASE" --output "$OUT" --checkpoint-every "$CHECKPOINT" "${EXTRA[@]}")
fi

# srun is SLURM's launcher; `.venv/bin/mpirun -n "$SLURM_NTASKS"` works too on one node.
srun --kill-on-bad-exit=1 "${CMD[@]}" &
pid=$!
trap 'kill -USR1 "$pid" 2>/dev/null' USR1 TERM
set +e
wait "$pid"; rc=$?
if [ "$rc" -gt 128 ]; then wait "$pid"; rc=$?; fi  # the signal interrupted wait: wait for seedsoil's own exit
set -e
case $rc in
    0) echo "seedsoil: finished; outputs in $OUT" ;;
    3) echo "seedsoil: stopped before the time limit with a checkpoint; sbatch this script again to continue" ;;
    *) echo "seedsoil: failed (exit $rc); see $OUT/manifest.json" ;;
esac
exit $rc
