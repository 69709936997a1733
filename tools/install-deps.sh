#!/usr/bin/env bash
# Installs the Debian packages Sluice builds against, but only those missing.
# Called by `make demo` / `make test`; safe to run again (it does nothing when
# everything is present). Uses sudo when not root.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make   # toolchain
  ccache                                  # faster rebuilds (used when present)
  libboost-dev                            # header-only Boost utilities
  libconcurrentqueue-dev                  # moodycamel lock-free queues (worker exchange)
  librdkafka-dev kcat                     # Kafka client (connectors) and an independent test client
  librocksdb-dev                          # state backend, checkpoints, view tables
  nlohmann-json3-dev                      # JSON serde
  catch2                                  # tests (v2)
  libbenchmark-dev                        # bench/ helpers
  prometheus                              # promtool: tests check GET /metrics with `promtool check metrics`
  chromium                                # headless browser: tests load the dashboard (GET /) and check its DOM
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "sluice: installing missing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  # A fresh machine may have no package lists yet.
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
