#!/bin/sh
# Regenerates docs/dashboard-provider.png and docs/dashboard-client.png: runs `cairn devnet`
# (1 client keeping a dataset on 3 of 4 providers, challenged and paid every 2 s), lets it run
# for a while, and has headless Chromium photograph the client's and a provider's status page.
#
#   docs/screenshots.sh [path/to/cairn]     (default: target/debug/cairn; build it first)
set -eu
cairn=${1:-target/debug/cairn}
chromium=${CHROMIUM:-/usr/bin/chromium}
settle=${SETTLE_SECS:-40}
work=$(mktemp -d)
trap 'kill "$devnet" 2>/dev/null || true; wait "$devnet" 2>/dev/null || true; rm -rf "$work"' EXIT

"$cairn" devnet --json --kill-after 1h --run-for "$((settle + 60))s" >"$work/devnet.jsonl" 2>"$work/devnet.err" &
devnet=$!
# The first line names the status pages, the client's first.
for _ in $(seq 1 120); do
    grep -q '"status_pages"' "$work/devnet.jsonl" 2>/dev/null && break
    sleep 1
done
pages=$(grep -m1 '"status_pages"' "$work/devnet.jsonl" |
    python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["status_pages"]))')
set -- $pages
client=$1
provider=$2
sleep "$settle"

shot() {
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$work/profile-$2" --window-size=1200,2600 \
        --virtual-time-budget=6000 --screenshot="docs/dashboard-$2.png" "$1" 2>>"$work/chromium.err"
}
shot "$provider" provider
shot "$client" client
echo "wrote docs/dashboard-provider.png and docs/dashboard-client.png"
