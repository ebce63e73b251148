#!/usr/bin/env bash
# A pvpython script, headless: scripts/pvpython.sh SCRIPT.py [args]
# (scripts/paraview_check.py, scripts/paraview_state.py).
# Debian's pvpython 5.11 renders through X/GLX only, so it gets a virtual X server (Xvfb)
# of its own. Needs: apt-get install -y paraview python3-paraview xvfb xauth
set -euo pipefail
# a run still writing fields.h5 may hold an HDF5 lock on it: read without locking
export HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}"
command -v pvpython >/dev/null || { echo "pvpython not found (apt-get install paraview python3-paraview)" >&2; exit 2; }

xvfb_pid=""
if [[ -z "${DISPLAY:-}" ]]; then
  command -v Xvfb >/dev/null || { echo "Xvfb not found (apt-get install xvfb)" >&2; exit 2; }
  # A free display number; wait for its socket before pvpython connects (xvfb-run both
  # raced pvpython here and failed in its own clean-up).
  for n in $(seq 90 160); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break; done
  Xvfb ":$n" -screen 0 1280x1024x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  trap 'kill $xvfb_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [[ -S /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
  sleep 0.5
  export DISPLAY=":$n"
fi
# Debian's pvpython 5.11 now and then still fails its first X connection ("bad X server
# connection", SIGABRT, exit 134): try up to 3 times.
rc=0
for attempt in 1 2 3; do
  rc=0
  pvpython --force-offscreen-rendering "$@" || rc=$?
  [[ $rc -eq 134 ]] || break
  echo "pvpython.sh: pvpython aborted (X connection), attempt $attempt of 3" >&2
  sleep 1
done
exit $rc
