#!/usr/bin/env bash
# Headless ParaView check of a seedsoil output dir: scripts/paraview_check.sh OUTDIR [opts]
# Debian's pvpython 5.11 renders through X/GLX only, so give it a virtual X server.
# Needs: apt-get install -y paraview xvfb xauth
set -euo pipefail
# a run still writing fields.h5 may hold an HDF5 lock on it: read without locking
export HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v pvpython >/dev/null || { echo "pvpython not found (apt-get install paraview)" >&2; exit 2; }
if [[ -n "${DISPLAY:-}" ]]; then
  exec pvpython --force-offscreen-rendering "$here/paraview_check.py" "$@"
fi
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 2; }
exec xvfb-run -a -s "-screen 0 1280x1024x24" pvpython --force-offscreen-rendering \
  "$here/paraview_check.py" "$@"
