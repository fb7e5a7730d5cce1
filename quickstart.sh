#!/usr/bin/env bash
# ferry quick start for a fresh Debian 12 machine (run as root, or as a user with sudo).
#   ./quickstart.sh demo [ARGS...]  install what is missing, build, run the heat-diffusion sweep
#   ./quickstart.sh test            install what is missing, build, run every test (ctest)
#   ./quickstart.sh asan | tsan     the same under ASan+UBSan / TSan (unit and mpi tests)
#   ./quickstart.sh bench [ARGS...] also install the peers (Dask, mpi4py) and gnuplot, build,
#                                   run bench/run build ARGS (e.g. --quick): report in bench/out/
# Safe to run again: it installs only missing packages and rebuilds incrementally.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

PACKAGES=(
  build-essential cmake pkg-config
  libboost-serialization-dev libboost-dev libboost-iostreams-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libopenmpi-dev openmpi-bin libucx-dev ucx-utils libpmix-dev
  slurm-wlm munge
  python3 ca-certificates
)
# Only for `bench`: the peers bench/run compares against, and gnuplot for the report's plots.
BENCH_PACKAGES=(python3-distributed python3-mpi4py gnuplot-nox)

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

# Installs the packages in PACKAGES that dpkg does not list as installed.
install_missing_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]} == 0)) && return 0
  echo "quickstart: installing ${missing[*]}" >&2
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "quickstart: run as root to install packages" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configures and builds one CMake preset with every core.
build() {
  cmake --preset "$1"
  cmake --build --preset "$1" -j "$(nproc)"
}

# mpirun refuses root without these; the multi-rank tests oversubscribe small machines.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

mode="${1:-}"
(($# > 0)) && shift
case "$mode" in
  demo)
    install_missing_packages
    build default
    exec build/examples/ferry-heat-sweep "$@"
    ;;
  test)
    install_missing_packages
    build default
    exec ctest --preset default --output-on-failure -j 2 "$@"
    ;;
  asan | tsan)
    install_missing_packages
    build "$mode"
    exec ctest --preset "$mode" --output-on-failure -j 2 "$@"
    ;;
  bench)
    PACKAGES+=("${BENCH_PACKAGES[@]}")
    install_missing_packages
    build default
    exec bench/run build "$@"
    ;;
  *) usage ;;
esac
