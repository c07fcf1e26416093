#!/usr/bin/env bash
# Packs PyodideEmbedded, PyodideEmbedded.Extensions and PyodideEmbedded.Cli, then uses them as a user would, outside the repo:
#   1. a new console app references the PyodideEmbedded package; `dotnet run` and its `dotnet publish`
#      output both print 9, with pyodide-dist/ beside them, every file matching the manifest;
#   2. the CLI published as one self-contained file, copied alone to an empty folder, prints 9;
#   3. the CLI installed as a .NET tool (`dotnet tool install --tool-path`) prints 9;
#   4. a new console app references PyodideEmbedded.Extensions and Microsoft.Extensions.AI and runs the agent sample
#      (samples/AgentSample: a scripted chat client calls the run_python_code tool), which prints the tool's result.
# Everything is built under a temp folder (--artifacts-path), never in the repo's bin/ or obj/. The packages get
# a unique pre-release version, so no copy in the NuGet cache can stand in for the fresh one; those versions are
# removed from the cache at the end. Needs only the .NET SDK and the machine's NuGet sources; no stdin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pyodide-package-test.XXXXXX")
suffix="pkgtest.$(date -u +%Y%m%d%H%M%S).$$"
cache=$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: //p')
version=""
cleanup() {
  if [ -n "$version" ] && [ -n "$cache" ]; then
    rm -rf "$cache/pyodideembedded/$version" "$cache/pyodideembedded.cli/$version" "$cache/pyodideembedded.extensions/$version"
    rmdir "$cache/pyodideembedded" "$cache/pyodideembedded.cli" "$cache/pyodideembedded.extensions" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
# A single-file app extracts itself here on first run (default ~/.net): keep each run's copy in the temp folder.
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="$work/bundle-extract"

step_start=0
step() { step_start=$(date +%s%N); echo; echo "== $*"; }
took() { local ms=$(( ($(date +%s%N) - step_start) / 1000000 )); printf '   (%d.%d s)\n' $((ms / 1000)) $((ms % 1000 / 100)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_9() { # expect_9 DESCRIPTION OUTPUT
  [ "$2" = "9" ] || fail "$1 printed '$2', expected '9'"
  echo "   $1 printed 9"
}
check_assets() { # check_assets DIR: pyodide-dist/ holds the manifest and every file it names, unaltered
  [ -f "$1/pyodide-dist/manifest.sha256" ] || fail "no $1/pyodide-dist/manifest.sha256"
  (cd "$1/pyodide-dist" && sha256sum --quiet -c manifest.sha256) || fail "$1/pyodide-dist does not match its manifest"
  echo "   $1/pyodide-dist matches manifest.sha256"
}
quiet() { # run a build command; show its output only if it fails
  local log="$work/last.log"
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$*"; }
}

feed="$work/feed"
artifacts="$work/artifacts"
cd "$root"

step "pack PyodideEmbedded, PyodideEmbedded.Extensions and PyodideEmbedded.Cli (version suffix $suffix)"
quiet dotnet pack src/PyodideEmbedded -c Release --artifacts-path "$artifacts" -o "$feed" -p:VersionSuffix="$suffix"
quiet dotnet pack src/PyodideEmbedded.Extensions -c Release --artifacts-path "$artifacts" -o "$feed" -p:VersionSuffix="$suffix"
quiet dotnet pack src/PyodideEmbedded.Cli -c Release --artifacts-path "$artifacts" -o "$feed" -p:VersionSuffix="$suffix"
lib=$(cd "$feed" && ls PyodideEmbedded.[0-9]*.nupkg)
version=${lib#PyodideEmbedded.}
version=${version%.nupkg}
ls -l "$feed"
listing=$(unzip -Z1 "$feed/$lib")
for f in manifest.sha256 $(grep -v '^#' pyodide-dist/manifest.sha256 | awk '{print $2}'); do
  grep -qx "pyodide-dist/$f" <<<"$listing" || fail "$lib lacks pyodide-dist/$f"
done
for f in build/PyodideEmbedded.targets buildTransitive/PyodideEmbedded.targets lib/net10.0/PyodideEmbedded.dll \
         PACKAGE.md LICENSE THIRD-PARTY-NOTICES.txt; do
  grep -qx "$f" <<<"$listing" || fail "$lib lacks $f"
done
# The decided dependency set, whatever OS packed it: the V8 wrapper and the linux-x64 engine (why: src/PyodideEmbedded/PyodideEmbedded.csproj),
# and the logging abstractions (ILogger events; metrics and traces are in the BCL).
deps=$(unzip -p "$feed/$lib" PyodideEmbedded.nuspec | grep -o 'dependency id="[^"]*"' | sort | tr '\n' ' ')
[ "$deps" = 'dependency id="Microsoft.ClearScript.V8" dependency id="Microsoft.ClearScript.V8.Native.linux-x64" dependency id="Microsoft.Extensions.Logging.Abstractions" ' ] \
  || fail "unexpected package dependencies: $deps"
echo "   $lib holds pyodide-dist/ (manifest and its files), the build targets, the readme and the notices"
took

step "a new console app, outside the repo, references PyodideEmbedded $version"
app="$work/consumer"
quiet dotnet new console -o "$app" -n PackageConsumer --no-restore
# The folder of fresh packages, on top of the machine's own sources (no <clear/>: those are inherited).
cat >"$app/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="pyodide-embedded-test" value="$feed" />
  </packageSources>
</configuration>
EOF
cat >"$app/Program.cs" <<'EOF'
using PyodideEmbedded;

await using var sandbox = await PythonSandbox.CreateAsync();
Console.WriteLine((await sandbox.RunAsync("4 + 5")).Value);
EOF
cd "$app"
quiet dotnet add package PyodideEmbedded --version "$version"
# -warnaserror: the package must build clean here (no PYE001 on linux-x64, no duplicate copies). NuGetAudit off:
# advisories published later for a dependency are not this check's business.
quiet dotnet build -c Release -warnaserror -p:NuGetAudit=false
check_assets "$app/bin/Release/net10.0"
expect_9 "dotnet run" "$(dotnet run -c Release --no-build </dev/null)"
took

step "dotnet publish of the app"
quiet dotnet publish -c Release -o "$work/consumer-publish"
check_assets "$work/consumer-publish"
expect_9 "the published app" "$(cd / && "$work/consumer-publish/PackageConsumer" </dev/null)"
took

step "a build for a platform without its V8 engine warns PYE001"
dotnet build -c Release --no-restore -p:_PyodideEmbeddedV8Rid=win-x64 >"$work/warn.log" 2>&1 || true
grep -q "warning PYE001: PyodideEmbedded: no V8 engine for win-x64 is referenced" "$work/warn.log" \
  || { cat "$work/warn.log" >&2; fail "no PYE001 warning"; }
echo "   warning PYE001 names Microsoft.ClearScript.V8.Native.win-x64"
took

cd "$root"
step "the CLI published as one self-contained file (linux-x64)"
quiet dotnet publish src/PyodideEmbedded.Cli -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
  --artifacts-path "$artifacts" -o "$work/single" -p:VersionSuffix="$suffix"
ls -l "$work/single"
others=$(cd "$work/single" && ls | grep -v -x -e pyodide-sandbox -e '.*\.pdb' || true)
[ -z "$others" ] || fail "single-file publish left more than the executable (and symbols): $others"
echo "   one executable: $(stat -c %s "$work/single/pyodide-sandbox") bytes (the .pdb files are optional symbols)"
took
step "that executable alone in an empty folder, first run (extracts itself)"
mkdir "$work/lonely"
cp "$work/single/pyodide-sandbox" "$work/lonely/"
expect_9 "pyodide-sandbox (single file, first run)" "$(cd "$work/lonely" && ./pyodide-sandbox run "4 + 5" </dev/null)"
took
step "the same executable again (already extracted)"
expect_9 "pyodide-sandbox (single file, second run)" "$(cd "$work/lonely" && ./pyodide-sandbox run "4 + 5" </dev/null)"
took

step "the CLI as a .NET tool: dotnet tool install --tool-path"
quiet dotnet tool install --tool-path "$work/tool" --add-source "$feed" PyodideEmbedded.Cli --version "$version"
expect_9 "the pyodide-sandbox tool" "$(cd / && "$work/tool/pyodide-sandbox" run "4 + 5" </dev/null)"
took

step "a new console app runs the agent sample from PyodideEmbedded.Extensions $version"
agent="$work/agent"
quiet dotnet new console -o "$agent" -n AgentConsumer --no-restore
cp "$app/nuget.config" "$agent/"
cp "$root/samples/AgentSample/Program.cs" "$agent/Program.cs"
cd "$agent"
quiet dotnet add package PyodideEmbedded.Extensions --version "$version"
quiet dotnet add package Microsoft.Extensions.AI --version "$(sed -n 's/.*Include="Microsoft.Extensions.AI" Version="\([^"]*\)".*/\1/p' "$root/Directory.Packages.props")"
quiet dotnet build -c Release -warnaserror -p:NuGetAudit=false
check_assets "$agent/bin/Release/net10.0"
said=$(dotnet run -c Release --no-build </dev/null)
expected='The tool answered: {"status":"success","stdout":"squares summed\n","return_value":385}'
[ "$said" = "$expected" ] || fail "the agent sample printed '$said', expected '$expected'"
echo "   the agent sample printed the tool's result"
took

echo
echo "package checks: all passed (library package: run and publish; single-file CLI; CLI tool; agent sample from the Extensions package)"
