#!/usr/bin/env bash
# Lints the JavaScript and Python that the library embeds and runs inside the sandbox:
#   *.js under src/PyodideEmbedded (Bootstrap.js)          with ESLint (build/lint/, exact version in package-lock.json)
#   *.py under src/PyodideEmbedded (Runner.py, Preload.py) with flake8 (Debian's package: apt-get install flake8)
# Exits non-zero on any finding. CI (.ci/run) runs it before the tests; developers can run it as is.
# Needs node/npm and flake8 on PATH; installs ESLint into build/lint/node_modules when it is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v flake8 >/dev/null; then
  echo "lint: flake8 not found (Debian/Ubuntu: apt-get install flake8)" >&2
  exit 1
fi
# CI runs `npm ci` itself; here it runs only when ESLint is missing or package-lock.json changed since.
if [ ! -x build/lint/node_modules/.bin/eslint ] \
   || [ build/lint/package-lock.json -nt build/lint/node_modules/.package-lock.json ]; then
  (cd build/lint && npm ci --no-audit --no-fund --loglevel=error)
fi

# Found rather than named, so that a file moved to another folder of the library is still linted.
mapfile -t js < <(find src/PyodideEmbedded -name '*.js' -not -path '*/bin/*' -not -path '*/obj/*' | sort)
mapfile -t py < <(find src/PyodideEmbedded -name '*.py' -not -path '*/bin/*' -not -path '*/obj/*' | sort)
if [ "${#js[@]}" -eq 0 ] || [ "${#py[@]}" -eq 0 ]; then
  echo "lint: no .js or no .py file under src/PyodideEmbedded; has the embedded code moved?" >&2
  exit 1
fi

status=0
echo "lint: eslint $(build/lint/node_modules/.bin/eslint --version)"
build/lint/node_modules/.bin/eslint --config build/lint/eslint.config.mjs --max-warnings 0 "${js[@]}" || status=1
echo "lint: flake8 $(flake8 --version | sed -n "1s/ on$//p")"
flake8 --config build/lint/flake8.ini "${py[@]}" || status=1
[ "$status" -eq 0 ] && echo "lint: clean"
exit "$status"
