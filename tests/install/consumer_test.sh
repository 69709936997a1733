#!/bin/sh
# Installs the built Sluice into a fresh prefix, then configures, builds and
# runs tests/install/consumer against it, as a user of the package would.
#   consumer_test.sh <cmake> <sluice build dir> <consumer source dir> <c++ compiler> <make program> [<flags>]
# <flags>: compile and link flags the libraries were built with that the
# package does not carry (a sanitizer build's).
set -eu
cmake=$1 build=$2 consumer=$3 cxx=$4 make_program=$5 flags=${6:-}
# A private directory per run, so the test can run beside any other.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
launcher=
if command -v ccache >/dev/null 2>&1; then
  launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  # Paths under the run's directory hash as relative ones, so reruns hit the cache.
  export CCACHE_BASEDIR="$tmp"
fi
# No package registry: the package must come from the prefix alone.
"$cmake" -S "$consumer" -B "$tmp/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$make_program" \
  -DCMAKE_CXX_COMPILER="$cxx" $launcher -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >/dev/null
grep -q "^sluice_DIR:PATH=$tmp/prefix/" "$tmp/build/CMakeCache.txt" || {
  echo "consumer found sluice outside the fresh prefix: $(grep '^sluice_DIR' "$tmp/build/CMakeCache.txt")" >&2
  exit 1
}
"$cmake" --build "$tmp/build"
"$tmp/build/consumer"
