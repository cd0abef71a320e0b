#!/usr/bin/env bash
# Runs the README's walk-through block, as written, against `checkin init-db` + `checkin serve` on a fresh instance
# and a free port, and fails unless it ends with a `verified` check-in.
#
#   scripts/walkthrough.sh [WORKDIR]
#
# The block is taken from README.md itself (the fenced block after the `<!-- walkthrough` marker), so the README
# cannot drift from what is tested. It runs in WORKDIR/repo (default: a new temporary folder), laid out like a
# clone: repo/.venv/bin/checkin is a link to the `checkin` command under test ($CHECKIN, default .venv/bin/checkin
# of this repository), ../shared/faces a link to the test photos ($FACES, default ../shared/faces), and
# CHECKIN_INSTANCE_PATH is repo/instance. PYTHONPATH and the other variables are passed through as they are.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECKIN=${CHECKIN:-$ROOT/.venv/bin/checkin}
FACES=${FACES:-$ROOT/../shared/faces}
README=${README:-$ROOT/README.md}

fail() { echo "walkthrough: $*" >&2; exit 1; }

[ -x "$CHECKIN" ] || fail "no checkin command at $CHECKIN (run \`make install\`, or set CHECKIN)"
[ -d "$FACES/people" ] || fail "test photos not found at $FACES/people"

WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/walkthrough.XXXXXX")}
mkdir -p "$WORK/repo/.venv/bin" "$WORK/shared"
ln -sfn "$CHECKIN" "$WORK/repo/.venv/bin/checkin"
ln -sfn "$(cd "$FACES" && pwd)" "$WORK/shared/faces"

# The fenced block following the marker line, without its fences.
awk '/^<!-- walkthrough/ { marked = 1; next }
     marked && /^```/ { if (inside) exit; inside = 1; next }
     inside { print }' "$README" > "$WORK/walkthrough.sh"
[ -s "$WORK/walkthrough.sh" ] || fail "no walk-through block after a '<!-- walkthrough' line in $README"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT
export CHECKIN_INSTANCE_PATH="$WORK/repo/instance"
unset CHECKIN_DATABASE_URL CHECKIN_BLOB_PATH CHECKIN_QUEUE_URL
export CHECKIN_LOG_FORMAT=text

cd "$WORK/repo"
echo "walkthrough: instance $CHECKIN_INSTANCE_PATH, port $PORT" >&2
.venv/bin/checkin init-db >&2
.venv/bin/checkin serve --port "$PORT" --workers 1 > "$WORK/server.log" 2>&1 &
SERVER=$!
stop() { kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
trap stop EXIT

# The block waits for /readyz itself (as after `make run &`); if the server dies first, the block is stopped.
timeout "${WALKTHROUGH_TIMEOUT:-600}" bash -euo pipefail "$WORK/walkthrough.sh" > "$WORK/output.txt" &
BLOCK=$!
( while kill -0 "$SERVER" 2>/dev/null; do sleep 1; done
  echo "walkthrough: the server exited" >&2; kill "$BLOCK" 2>/dev/null ) &
WATCH=$!
set +e
wait "$BLOCK"
status=$?
set -e
kill "$WATCH" 2>/dev/null || true
cat "$WORK/output.txt"
if [ "$status" -ne 0 ]; then
    echo "walkthrough: the README block failed with status $status; the server's log:" >&2
    tail -n 30 "$WORK/server.log" >&2
    exit "$status"
fi
last=$(tail -n 1 "$WORK/output.txt")
[ "$last" = "verified" ] || fail "the walk-through ended with '$last', not 'verified'"
echo "walkthrough: ended with a verified check-in" >&2
