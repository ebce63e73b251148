#!/usr/bin/env bash
# Headless ParaView check of a seedsoil output dir: scripts/paraview_check.sh OUTDIR [opts]
# Debian's pvpython 5.11 renders through X/GLX only, so give it a virtual X server.
# Needs: apt-get install -y paraview xvfb xauth
set -euo pipefail
# a run still writing fields.h5 may hold an HDF5 lock on it: read without locking
export HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v pvpython >/dev/null || { echo "pvpython not found (apt-get install paraview)" >&2; exit 2; }
command -v xvfb-run >/dev/null || [[ -n "${DISPLAY:-}" ]] || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 2; }
# Debian's pvpython 5.11 now and then fails its first X connection ("bad X server
# connection", SIGABRT, exit 134) under a fresh virtual X server: try up to 3 times.
for attempt in 1 2 3; do
  rc=0
  if [[ -n "${DISPLAY:-}" ]]; then
    pvpython --force-offscreen-rendering "$here/paraview_check.py" "$@" || rc=$?
  else
    xvfb-run -a -s "-screen 0 1280x1024x24" pvpython --force-offscreen-rendering "$here/paraview_check.py" "$@" || rc=$?
  fi
  [[ $rc -eq 134 ]] || exit $rc
  echo "paraview_check: pvpython aborted (X connection), attempt $attempt of 3" >&2
done
exit $rc
