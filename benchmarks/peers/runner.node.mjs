// Benchmark peer: Pyodide running in a Node.js subprocess.
//
// Not part of PyodideEmbedded. It replicates the well-known "Pyodide in a
// subprocess" seed pattern so the BenchmarkDotNet benchmarks have something to
// compare against. Same protocol and Pyodide version as runner.deno.js.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
//   {"code": "4 + 5"}   -> {"output": 9}
//   {"code": "1/0"}     -> {"error": "ZeroDivisionError: division by zero"}
//   {"shutdown": true}  -> no reply, exit code 0
// Anything Python prints is captured, never written to stdout; it is returned in
// the optional "stdout" / "stderr" fields of the reply. Globals persist between
// requests. Results are serialised as described in README.md ("Output values").
//
// Run from benchmarks/peers:  node runner.node.mjs
import { createInterface } from "node:readline";
import { loadPyodide } from "pyodide";

// Keep stdout for reply lines only: anything logged via console goes to stderr.
console.log = console.info = console.debug = console.error;

const pyodide = await loadPyodide();
let out = [];
let err = [];
pyodide.setStdout({ batched: (s) => out.push(s) });
pyodide.setStderr({ batched: (s) => err.push(s) });
pyodide.setStdin({ error: true }); // input() must never read the protocol stream

// Python -> JSON text. Containers go through json.dumps (exact ints, dicts,
// lists, tuples -> lists); non-JSON values (sets, objects, NaN, ...) become repr().
const pyToJson = pyodide.runPython(`
def _peer_to_json(value):
    import json
    try:
        return json.dumps(value, default=repr, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return json.dumps(repr(value))
_peer_to_json`);

function toJsonText(value) {
  if (value === undefined || value === null) return "null";
  if (typeof value === "bigint") return value.toString(); // int beyond 2**53
  if (value instanceof pyodide.ffi.PyProxy) {
    try { return pyToJson(value); } finally { value.destroy(); }
  }
  return JSON.stringify(value) ?? "null"; // number, string, boolean
}

function lastLine(message) {
  const lines = String(message).trimEnd().split("\n");
  return lines[lines.length - 1];
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    return JSON.stringify({ error: `Invalid JSON input: ${e.message}` });
  }
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    return JSON.stringify({ error: "Input is not a JSON object" });
  }
  if (request.shutdown) process.exit(0);
  if (typeof request.code !== "string") {
    return JSON.stringify({ error: "Missing \"code\" string" });
  }
  out = [];
  err = [];
  let reply;
  try {
    const result = await pyodide.runPythonAsync(request.code);
    reply = `{"output":${toJsonText(result)}`;
  } catch (e) {
    reply = `{"error":${JSON.stringify(lastLine(e?.message ?? e))}`;
  }
  if (out.length) reply += `,"stdout":${JSON.stringify(out.join("\n") + "\n")}`;
  if (err.length) reply += `,"stderr":${JSON.stringify(err.join("\n") + "\n")}`;
  return reply + "}";
}

process.stdout.on("error", () => process.exit(0)); // parent closed the pipe
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === "") continue;
  process.stdout.write((await handle(line)) + "\n"); // synchronous for pipes on Linux
}
process.exit(0); // stdin closed
