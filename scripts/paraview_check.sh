#!/usr/bin/env bash
# Headless ParaView check of a seedsoil organ output folder:
#   scripts/paraview_check.sh OUTDIR/<organ> [--fields a,b] [--cell-attributes x,y]
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/pvpython.sh" "$here/paraview_check.py" "$@"
