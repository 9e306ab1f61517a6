# Sourced by the test scripts: `serve_idgate BIN DIR` starts `idgate serve` on a free port of
# 127.0.0.1 with the store in DIR (log in DIR/server.log), sets `server` (its pid, for the
# caller's EXIT trap) and `base` (its URL), and fails when it does not start within 10 s.
# The server's stdout goes to the log too: a pipe left open by it would hold the caller's.
serve_idgate() {
  "$1" --data-dir "$2" serve --listen 127.0.0.1:0 >"$2/server.log" 2>&1 &
  server=$!
  base=""
  for _ in $(seq 100); do
    base=$(grep -o 'serving on http://[0-9.:]*' "$2/server.log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$base" ] && return 0
    sleep 0.1
  done
  cat "$2/server.log"
  echo "server did not start"
  return 1
}
