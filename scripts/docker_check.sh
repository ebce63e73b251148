#!/usr/bin/env bash
# Proves that the repo's Dockerfile, unchanged, builds and runs on this machine:
#   1. a Docker daemon must answer (`docker info`);
#   2. if the Dockerfile's base image (its `ARG BASE=`, python:3.12-slim-bookworm) is not
#      there and cannot be pulled, a local stand-in is built under that exact name: a Debian
#      bookworm root filesystem (debootstrap, minbase) with the runtime libraries CPython
#      needs, plus this machine's pyenv Python 3.12 at its own path, linked from
#      /usr/local/bin as the official image does;
#   3. `docker build -t seedsoil .` (timed);
#   4. the demo case, 200 steps, on 1 rank and on 2 (mpirun -n 2), each must exit 0, say
#      "done," and write its figures; wall times are printed.
#
# Run as root from anywhere:  bash scripts/docker_check.sh
#   Settings (environment): IMAGE=seedsoil, PYTHON_PREFIX=/root/.pyenv/versions/3.12.x
#   (default: the newest), DEBIAN_MIRROR=http://deb.debian.org/debian,
#   LOG_DIR=/tmp/seedsoil-docker-check, REBUILD_BASE=1 to rebuild the stand-in.
# No daemon yet (Debian, no systemd):
#   apt-get install -y docker.io && nohup nice -n 10 dockerd > /tmp/dockerd.log 2>&1 &
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-seedsoil}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG_DIR=${LOG_DIR:-/tmp/seedsoil-docker-check}
RUN_ARGS=(run cases/demo.toml --set time.steps=200 --set output.every=100)
mkdir -p "$LOG_DIR"

say() { printf '== %s\n' "$*"; }
die() { printf 'docker_check: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

# The base image name comes from the Dockerfile itself, so the stand-in can't drift from it.
BASE=$(sed -n 's/^ARG BASE=//p' "$REPO/Dockerfile" | head -n1)
[ -n "$BASE" ] || die "no 'ARG BASE=' line in $REPO/Dockerfile"

# --- 1. the daemon ---------------------------------------------------------------------
if ! docker info >/dev/null 2>"$LOG_DIR/docker-info.err"; then
    cat "$LOG_DIR/docker-info.err" >&2
    die "no Docker daemon answers 'docker info'. Start one, e.g. (Debian, as root, no systemd):
    apt-get install -y docker.io && nohup nice -n 10 dockerd > /tmp/dockerd.log 2>&1 &
  then run this script again."
fi
say "daemon: Docker $(docker info -f '{{.ServerVersion}}'), storage $(docker info -f '{{.Driver}}')"

# --- 2. the base image, or a stand-in under its name --------------------------------------
build_standin() {
    [ "$(id -u)" = 0 ] || die "building the stand-in base needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install -y debootstrap"
    local prefix=${PYTHON_PREFIX:-$(ls -d /root/.pyenv/versions/3.12.* 2>/dev/null | sort -V | tail -n1)}
    [ -x "$prefix/bin/python3.12" ] || die "no Python 3.12 at '${prefix}' (set PYTHON_PREFIX)"
    local root; root=$(mktemp -d /var/tmp/standin-root.XXXXXX)
    # shellcheck disable=SC2064  # expand now: $root is local
    trap "rm -rf '$root'" EXIT

    # Runtime libraries of CPython's extension modules (ssl, ctypes, sqlite3, bz2, lzma,
    # readline, curses, pyexpat, uuid, nis), plus what the official image carries:
    # ca-certificates, netbase, tzdata. No tk: the slim image has no tkinter either.
    local pkgs=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0
    pkgs+=,liblzma5,libreadline8,libncursesw6,libtinfo6,libexpat1,libuuid1,libnsl2,libtirpc3
    say "stand-in: debootstrap bookworm (minbase) from $DEBIAN_MIRROR"
    nice debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$DEBIAN_MIRROR" \
        > "$LOG_DIR/debootstrap.log" 2>&1 || { tail -n 30 "$LOG_DIR/debootstrap.log" >&2; die "debootstrap failed"; }

    # APT as in Debian's official images: deb822 sources with updates and security, and
    # debuerreotype's Docker settings (no caches, no translations, gzipped lists).
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
    printf 'DPkg::Post-Invoke { %s; };\nAPT::Update::Post-Invoke { %s; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
        "$clean" "$clean" > "$root/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    # and, as in the slim images, dpkg leaves out documentation, man pages and locales.
    printf 'path-exclude %s\n' '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' \
        '/usr/share/groff/*' '/usr/share/lintian/*' '/usr/share/linda/*' '/usr/share/locale/*' \
        > "$root/etc/dpkg/dpkg.cfg.d/docker"
    printf 'path-include %s\n' '/usr/share/doc/*/copyright' '/usr/share/locale/locale.alias' \
        >> "$root/etc/dpkg/dpkg.cfg.d/docker"

    # This machine reaches PyPI through a TLS-intercepting proxy whose CA is added locally
    # (/usr/local/share/ca-certificates); a container needs the same trust, and pip's own
    # certifi bundle lacks it, hence the host's /etc/pip.conf `cert =` line too. With no
    # such CA (a machine with direct access) this adds nothing.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates > "$LOG_DIR/update-ca.log" 2>&1
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
    fi

    # Python at its own prefix (its binaries carry an rpath to it), without the packages
    # installed into this machine's copy (pip stays, as in the official image), and
    # trimmed as the official image is: no test suites, static libpython or .pyc files.
    mkdir -p "$root$(dirname "$prefix")"
    cp -a "$prefix" "$root$prefix"
    local site="$root$prefix/lib/python3.12/site-packages"
    find "$site" -mindepth 1 -maxdepth 1 ! -name 'pip' ! -name 'pip-*.dist-info' ! -name README.txt -exec rm -rf {} +
    find "$root$prefix" -depth \( -type d \( -name test -o -name tests -o -name idle_test -o -name __pycache__ \) \
        -o -type f -name 'libpython*.a' \) -exec rm -rf {} +
    rm -f "$root$prefix/bin/ruff"
    chmod 755 "$root/root"
    for f in "$prefix"/bin/*; do
        if [ -e "$root$f" ]; then ln -sf "$f" "$root/usr/local/bin/$(basename "$f")"; fi
    done

    find "$root/usr/share/doc" -type f ! -name copyright -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/tmp/* "$root"/etc/resolv.conf
    say "stand-in: docker import as $BASE"
    tar --numeric-owner -C "$root" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . \
        | docker import \
            --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change "LABEL org.seedsoil.standin=debootstrap-bookworm+$(basename "$prefix")" \
            --change 'CMD ["python3"]' \
            --message "stand-in for $BASE: Debian bookworm minbase + $prefix" \
            - "$BASE" > /dev/null
    rm -rf "$root"
    trap - EXIT
}

if [ "${REBUILD_BASE:-0}" = 1 ] && docker image inspect "$BASE" >/dev/null 2>&1; then
    docker image rm "$BASE" > /dev/null
fi
if docker image inspect "$BASE" >/dev/null 2>&1; then
    kind=$(docker image inspect -f '{{index .Config.Labels "org.seedsoil.standin"}}' "$BASE")
    say "base: $BASE is there (${kind:+stand-in }${kind:-not a stand-in})"
elif timeout 600 docker pull "$BASE" > "$LOG_DIR/pull.log" 2>&1; then  # a registry: the real one
    say "base: pulled $BASE"
else
    say "base: $BASE cannot be pulled here, building a stand-in"
    t0=$(now); build_standin; t1=$(now)
    say "stand-in: built in $(secs "$t0" "$t1") s"
fi
say "base: $BASE, $(size "$BASE")"

# What the Dockerfile asks of its base: python3 -m venv with pip, HTTPS, apt-get.
docker run --rm "$BASE" sh -ec '
    python3 -c "import ssl, ctypes, sqlite3, bz2, lzma, zlib, uuid, readline, pyexpat"
    python3 -m venv /tmp/v && /tmp/v/bin/pip --version
    apt-get update -q > /dev/null && apt-get install -y -q --no-install-recommends --dry-run gcc > /dev/null
    echo "python $(python3 -V 2>&1 | cut -d" " -f2), venv, pip, apt-get: ok"' \
    > "$LOG_DIR/base-check.log" 2>&1 || { cat "$LOG_DIR/base-check.log" >&2; die "$BASE cannot serve as the base"; }
say "base: $(tail -n1 "$LOG_DIR/base-check.log")"

# --- 3. the real Dockerfile, unchanged ----------------------------------------------------
say "build: docker build -t $IMAGE $REPO (log: $LOG_DIR/build.log)"
t0=$(now)
docker build -t "$IMAGE" "$REPO" > "$LOG_DIR/build.log" 2>&1 || { tail -n 40 "$LOG_DIR/build.log" >&2; die "docker build failed"; }
t1=$(now)
say "build: $IMAGE built in $(secs "$t0" "$t1") s, $(size "$IMAGE")"

# --- 4. the demo on 1 and 2 ranks ---------------------------------------------------------
run_demo() {  # label, command prefix...
    local label=$1; shift
    local log="$LOG_DIR/run-$label.log" t0 t1 rc=0
    t0=$(now)
    docker run --rm "$IMAGE" "$@" seedsoil "${RUN_ARGS[@]}" > "$log" 2>&1 || rc=$?
    t1=$(now)
    # Exit 0 and "done," are the run; figures failing are only a warning in seedsoil, but
    # here they reveal a missing system library (VTK off-screen rendering), so they count.
    if [ "$rc" != 0 ] || ! grep -q 'done,' "$log" || grep -q 'figures not written' "$log"; then
        tail -n 40 "$log" >&2
        die "$label run failed (exit $rc; log $log)"
    fi
    say "run ($label): ok in $(secs "$t0" "$t1") s: $(grep -m1 'done,' "$log" | sed 's/^seedsoil: //')"
    grep -m1 'figures in' "$log" | sed 's/^/   /' || true
}
run_demo 1-rank
run_demo 2-ranks mpirun -n 2
say "all good: $BASE -> $IMAGE builds and runs (logs in $LOG_DIR)"
