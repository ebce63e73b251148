#!/bin/sh
# `docker run IMAGE seedsoil run ...`, `docker run IMAGE mpirun -n 2 seedsoil ...`, or
# the shorthand `docker run IMAGE run ...` (arguments for seedsoil).
if [ $# -gt 0 ] && command -v "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec seedsoil "$@"
