#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs them.
#
#   ./test.sh                 # everything (what CI runs)
#   ./test.sh --test deals    # extra arguments go to `cargo test`
#
# Installs (once): Debian's PostgreSQL (started on loopback; the database tests run against it
# as well as SQLite), Debian's Chromium (the status-page tests load pages in it), and the exact
# npm pins of the Helia interop peer, the Kubo RPC client and the payment-channel contract
# toolchain (solc-js, OpenZeppelin, Foundry's anvil and cast), Debian's systemd (for
# systemd-analyze) and prometheus (for promtool) when missing. Debian packages need root; as
# another user the script uses sudo. CAIRN_TEST_DOCKER=1 also builds the Dockerfile where
# Docker runs.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export SUDO

apt_install() {
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# PostgreSQL on loopback.
CAIRN_TEST_POSTGRES_URL="$(bash .ci/start-postgres.sh)"
export CAIRN_TEST_POSTGRES_URL

# The Helia interop peer (Node 22 comes from the npm registry as a package).
(cd tests/interop/helia && npm ci --no-audit --no-fund --loglevel=error)

# The Kubo RPC client tests/kubo_rpc.rs drives the /api/v0 API with.
(cd tests/interop/kubo-client && npm ci --no-audit --no-fund --loglevel=error)

# The payment-channel contract: its artifacts are checked against a fresh compile and
# tests/chain.rs runs anvil.
(cd contracts/evm && npm ci --no-audit --no-fund --loglevel=error)

# The S3 server the object-storage tests run against (s3s-fs) is a dev-dependency started
# in-process on 127.0.0.1: nothing to install.

# Debian packages, installed in one go where missing: headless Chromium (tests/status_page.rs
# fails, rather than skips, without it), systemd-analyze (tests/dist.rs checks
# dist/cairn.service with it; it runs without a running systemd) and promtool (tests/metrics.rs
# checks a live node's /metrics).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v promtool >/dev/null || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

# The container image, where a Docker daemon is at hand and it is asked for (a release build).
if [ "${CAIRN_TEST_DOCKER:-0}" = 1 ] && docker info >/dev/null 2>&1; then
  docker build -t cairn:test .
fi

cargo test "$@"

# Fuzzing. `cargo test` above replays every committed corpus (tests/fuzz_corpus.rs). A run of
# each libFuzzer target needs its own sanitized build of the whole crate, longer than CI's
# budget on 2 cores, so it runs only when asked: CAIRN_FUZZ_SECS=10 ./test.sh (seconds per
# target; cargo-fuzz is installed if missing; stable Rust through RUSTC_BOOTSTRAP=1).
if [ "${CAIRN_FUZZ_SECS:-0}" -gt 0 ]; then
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  (
    cd fuzz
    for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
      # New inputs go to a scratch corpus; the committed one is only read.
      scratch="$(mktemp -d)"
      RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$CAIRN_FUZZ_SECS" -rss_limit_mb=2048 -max_len=65536
      rm -rf "$scratch"
    done
  )
fi
