#!/usr/bin/env bash
# The cluster sample as three processes on localhost: two silos (localhost clustering, silo 0 the primary) and a
# client that runs sessions and fresh runs across them and exits 0 when every result is right. Bounded: the client
# has 180 s, the whole script a little more; the silos this script started are stopped on every exit path.
# Usage: bash build/test-cluster-sample.sh [Configuration]   (after a build of samples/ClusterSample, or it builds one)
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-Release}"
dll="samples/ClusterSample/bin/$config/net10.0/ClusterSample.dll"
[ -f "$dll" ] || dotnet build samples/ClusterSample -c "$config" --nologo -v q

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
