#!/usr/bin/env bash
# Refreshes pyodide-dist/ from the npm registry and rewrites its manifest.
#   build/update-pyodide.sh            # the version named by <PyodideVersion> in Directory.Build.props
#   build/update-pyodide.sh 314.0.8    # bump: also rewrites <PyodideVersion>
# The tarball is checked against the registry's sha512 integrity before anything is extracted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
props="$root/Directory.Build.props"
current=$(sed -n 's:.*<PyodideVersion>\(.*\)</PyodideVersion>.*:\1:p' "$props")
version=${1:-$current}
# The files the sandbox reads at run time; nothing else is vendored.
files=(pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
expected=$(npm view "pyodide@$version" dist.integrity)
tarball=$(npm pack --silent "pyodide@$version")
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$expected" != "$actual" ]; then
  echo "integrity mismatch for $tarball: registry says $expected, got $actual" >&2
  exit 1
fi
tar xzf "$tarball"

dist="$root/pyodide-dist"
rm -rf "$dist" && mkdir -p "$dist"
for f in "${files[@]}"; do cp "package/$f" "$dist/$f"; done
{
  echo "# pyodide $version ($expected)"
  echo "# sha256sum format; the sandbox reads only the files listed here and verifies each."
  (cd "$dist" && sha256sum "${files[@]}")
} > "$dist/manifest.sha256"

if [ "$version" != "$current" ]; then
  sed -i "s:<PyodideVersion>$current</PyodideVersion>:<PyodideVersion>$version</PyodideVersion>:" "$props"
fi
echo "pyodide-dist/ now holds pyodide $version"
