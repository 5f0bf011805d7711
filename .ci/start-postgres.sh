#!/usr/bin/env bash
# Installs Debian's PostgreSQL if missing and starts it on loopback only; prints the admin URL
# that the database tests read from CAIRN_TEST_POSTGRES_URL.
set -euo pipefail
SUDO="${SUDO-}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  $SUDO apt-get update -qq >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=/tmp/cairn-ci-pg
port=55432
if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  if [ ! -f "$data/PG_VERSION" ]; then
    $SUDO mkdir -p "$data" && $SUDO chown postgres "$data"
    $SUDO su postgres -c "$bin/initdb -D $data -A trust -U postgres" >&2
  fi
  $SUDO su postgres -c "$bin/pg_ctl -D $data -l $data/log -o '-c listen_addresses=127.0.0.1 -p $port -k /tmp' -w start" >&2
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
