#!/usr/bin/env bash
# Installs the benchmark peers (pyodide@314.0.7 + deno@2.9.6 from npm) into
# benchmarks/peers/node_modules and prints the executables to spawn.
# Idempotent; exits 0 even when a peer is unavailable (benchmarks then report it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here="$(pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "WARNING: node/npm not found: both peers (Node.js and Deno) are unavailable." >&2
  exit 0
fi

stamp=node_modules/.peers-installed
if [[ -f "$stamp" && "$stamp" -nt package-lock.json && -d node_modules/pyodide ]]; then
  echo "peers: node_modules up to date"
else
  install_cmd=(npm install)
  [[ -f package-lock.json ]] && install_cmd=(npm ci)
  # deno's postinstall only hard-links the binary from @deno/<platform>; it is
  # optional (see the fallback below), so a failure there must not stop us.
  if "${install_cmd[@]}" --no-audit --no-fund; then
    touch "$stamp"
  else
    echo "WARNING: '${install_cmd[*]}' failed in $here: peers may be unavailable." >&2
  fi
fi

node_exe="$(command -v node)"
if [[ -f node_modules/pyodide/pyodide.mjs ]]; then
  echo "NODE=$node_exe ($(node --version))"
else
  echo "WARNING: node_modules/pyodide missing: Node.js and Deno peers are unavailable." >&2
  exit 0
fi

# The real deno binary (not node_modules/.bin/deno, which may be a node shim).
deno_exe=""
for candidate in node_modules/deno/deno node_modules/@deno/linux-x64-glibc/deno \
                 node_modules/@deno/linux-arm64-glibc/deno; do
  if [[ -x "$candidate" ]] && "$candidate" --version >/dev/null 2>&1; then
    deno_exe="$here/$candidate"
    break
  fi
done
if [[ -n "$deno_exe" ]]; then
  echo "DENO=$deno_exe ($("$deno_exe" --version | head -n1))"
else
  echo "WARNING: no working deno binary under $here/node_modules: the Deno peer is unavailable." >&2
fi
exit 0
