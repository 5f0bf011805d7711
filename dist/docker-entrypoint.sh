#!/bin/sh
# The container's entrypoint: on a fresh /data volume, `cairn init` and then the gateway moved
# from loopback to all of the container's interfaces (a published port reaches the container's
# own address, not its loopback). The API stays on loopback: use `docker exec <name> cairn ...`.
# Then `cairn "$@"` replaces this shell, so the daemon is PID 1 and gets `docker stop`'s SIGTERM.
set -eu
if [ "${1:-}" = "daemon" ] && [ ! -e "$CAIRN_PATH/config.toml" ]; then
  cairn init >/dev/null
  sed -i \
    -e 's#^listen = "127.0.0.1:8701"#listen = "0.0.0.0:8701"#' \
    "$CAIRN_PATH/config.toml"
fi
exec cairn "$@"
