# seedsoil image: dolfinx 0.11 from the dolfinx-solver-real wheel, pinned by requirements.lock.
#   docker build -t seedsoil .
#   docker run --rm -v "$PWD/output:/work/output" seedsoil seedsoil run cases/demo.toml
#   docker run --rm seedsoil mpirun -n 2 seedsoil run cases/demo.toml
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE}

# A C compiler (dolfinx compiles forms at first use), the libraries gmsh's wheel links, and
# EGL (libegl1) for VTK's off-screen rendering of the run's figures: without X, EGL or OSMesa
# the vtk wheel crashes (SIGSEGV) at the end of every `seedsoil run`.
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc libc6-dev libglu1-mesa libgl1 libegl1 libxcursor1 libxft2 libxinerama1 libxrender1 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/seedsoil PATH=/opt/seedsoil/bin:$PATH PYTHONUNBUFFERED=1
RUN python3 -m venv $VIRTUAL_ENV
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock

WORKDIR /work
COPY pyproject.toml README.md ./
COPY solver ./solver
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && seedsoil info
COPY cases ./cases
COPY meshes ./meshes
COPY scripts ./scripts
COPY scripts/docker-entrypoint.sh /usr/local/bin/seedsoil-entry
ENTRYPOINT ["/usr/local/bin/seedsoil-entry"]
CMD ["seedsoil", "run", "cases/demo.toml"]
