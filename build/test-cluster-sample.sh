#!/usr/bin/env bash
# The cluster sample as three processes on localhost: two silos (localhost clustering, silo 0 the primary) and a
# client that runs sessions and fresh runs across them and exits 0 when every result is right. Then the MCP server on
# the same silos (`pyodide-sandbox mcp --http --cluster ...`), driven by the TypeScript MCP client
# (tests/mcp-client-ts, after its `npm ci`). Bounded: the client has 180 s, the MCP check 240 s; the processes this
# script started are stopped on every exit path.
# Usage: bash build/test-cluster-sample.sh [Configuration]   (after a build of samples/ClusterSample and the CLI, or it
# builds them)
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-Release}"
dll="samples/ClusterSample/bin/$config/net10.0/ClusterSample.dll"
[ -f "$dll" ] || dotnet build samples/ClusterSample -c "$config" --nologo -v q
cli="src/PyodideEmbedded.Cli/bin/$config/net10.0/pyodide-sandbox.dll"
[ -f "$cli" ] || dotnet build src/PyodideEmbedded.Cli -c "$config" --nologo -v q
mcp_port="${MCP_CLUSTER_PORT:-3017}"
[ -d tests/mcp-client-ts/node_modules ] || (cd tests/mcp-client-ts && npm ci --no-audit --no-fund --loglevel=error)

logs="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap 'cleanup; rm -rf "$logs"' EXIT

for i in 0 1; do
  : >"$logs/silo$i.log"   # exists before the loop below reads it (the redirection of a background job may come later)
  dotnet "$dll" silo "$i" >>"$logs/silo$i.log" 2>&1 &
  pids+=($!)
  # Each silo announces itself once it has joined; silo 0 must be up before silo 1 joins it.
  for _ in $(seq 120); do
    grep -q "silo $i started" "$logs/silo$i.log" && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$logs/silo$i.log"; echo "silo $i exited" >&2; exit 1; }
    sleep 0.5
  done
  grep -q "silo $i started" "$logs/silo$i.log" || { cat "$logs/silo$i.log"; echo "silo $i did not start in 60 s" >&2; exit 1; }
done

if ! timeout 180 dotnet "$dll" client; then
  echo "cluster sample failed; silo logs:" >&2
  tail -n 50 "$logs"/silo*.log >&2
  exit 1
fi

# The MCP server as a client of the two silos (their gateways; their session idle timeout is 5 minutes and their time
# limit the default 5 s, which the server's flags declare), then the TypeScript client's HTTP checks against it.
: >"$logs/mcp.log"
dotnet "$cli" mcp --http --urls "http://127.0.0.1:$mcp_port" --cluster "127.0.0.1:30000;127.0.0.1:30001" \
  --session-idle-minutes 5 >>"$logs/mcp.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
  grep -q "MCP endpoint at" "$logs/mcp.log" && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$logs/mcp.log" >&2; echo "the MCP server exited" >&2; exit 1; }
  sleep 0.5
done
grep -q "MCP endpoint at" "$logs/mcp.log" || { cat "$logs/mcp.log" >&2; echo "the MCP server did not start in 60 s" >&2; exit 1; }

if ! timeout 240 node tests/mcp-client-ts/check.mjs --http-url "http://127.0.0.1:$mcp_port/mcp"; then
  echo "MCP server on the cluster failed; its log and the silos':" >&2
  tail -n 50 "$logs/mcp.log" "$logs"/silo*.log >&2
  exit 1
fi
