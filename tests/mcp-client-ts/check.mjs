// Drives `pyodide-sandbox mcp` with the TypeScript MCP SDK's client, over stdio and over streamable HTTP, the way an
// agent host would: list the tools, run code, keep state, read an error and a limit, and (HTTP) keep two sessions apart.
// Usage: node check.mjs path/to/pyodide-sandbox.dll   (run by .ci/run after the build; prints "N passed, N failed").
//    or: node check.mjs --http-url http://127.0.0.1:3017/mcp   (the HTTP checks against a server already running without
//        a token, such as `mcp --http --cluster ...` in build/test-cluster-sample.sh; it must have the default 5 s limit).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [first, second] = process.argv.slice(2);
const runningUrl = first === "--http-url" ? second : undefined;
const dll = runningUrl === undefined ? first : undefined;
if (!dll && !runningUrl) {
  console.error("usage: node check.mjs path/to/pyodide-sandbox.dll | node check.mjs --http-url http://HOST:PORT/mcp");
  process.exit(2);
}

let passed = 0;
let failed = 0;

function check(name, condition, detail) {
  if (condition) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
  }
}

async function run(client, code, globals) {
  const args = { python_code: code };
  if (globals) args.global_variables = globals;
  return client.callTool({ name: "run_python_code", arguments: args });
}

async function checkSession(client, transport) {
  const { tools } = await client.listTools();
  check(`${transport}: lists run_python_code`, tools.some((t) => t.name === "run_python_code"), tools.map((t) => t.name));

  const first = await run(client, "print('hi')\ntotal = n * 2\ntotal", { n: 21 });
  check(`${transport}: value`, first.structuredContent?.return_value === 42, first.structuredContent);
  check(`${transport}: stdout`, first.structuredContent?.stdout === "hi\n", first.structuredContent);
  check(`${transport}: text for the model`, first.content?.[0]?.type === "text" && first.content[0].text.includes("<return_value>\n42\n</return_value>"), first.content);

  const kept = await run(client, "total + 1");
  check(`${transport}: state kept`, kept.structuredContent?.return_value === 43, kept.structuredContent);

  const error = await run(client, "1/0");
  check(`${transport}: error type`, error.structuredContent?.error?.type === "ZeroDivisionError", error.structuredContent);

  const limit = await run(client, "while True: pass");
  // state_lost is false unless a loaded machine delayed the soft stop past its grace period: only its type is checked.
  check(`${transport}: time limit`, limit.structuredContent?.limit === "time" && typeof limit.structuredContent?.state_lost === "boolean", limit.structuredContent);
}

async function stdio() {
  const client = new Client({ name: "ts-check", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: "dotnet", args: [dll, "mcp", "--timeout-ms", "2000"], stderr: "ignore" }));
  try {
    await checkSession(client, "stdio");
  } finally {
    await client.close();
  }
}

// Two sessions of one server: the common checks in one, and the other sees none of its state.
async function checkTwoSessions(endpoint, requestInit, transport) {
  const connect = async () => {
    const client = new Client({ name: "ts-check", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(endpoint, { requestInit }));
    return client;
  };

  const alice = await connect();
  const bob = await connect();
  try {
    await checkSession(alice, transport);
    const bobSees = await run(bob, "'total' in globals()");
    check(`${transport}: sessions apart`, bobSees.structuredContent?.return_value === false, bobSees.structuredContent);
  } finally {
    await alice.close();
    await bob.close();
  }
}

async function http() {
  const token = randomBytes(24).toString("hex");
  const server = spawn("dotnet", [dll, "mcp", "--http", "--urls", "http://127.0.0.1:0", "--auth-token-env", "MCP_CHECK_TOKEN", "--timeout-ms", "2000"], {
    env: { ...process.env, MCP_CHECK_TOKEN: token },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    const endpoint = await new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error("no endpoint within 60 s: " + seen)), 60000);
      server.stderr.on("data", (chunk) => {
        seen += chunk;
        const match = /MCP endpoint at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolve(new URL(match[1]));
        }
      });
      server.on("exit", (code) => reject(new Error(`server exited (${code}): ${seen}`)));
    });
    await checkTwoSessions(endpoint, { headers: { Authorization: `Bearer ${token}` } }, "http");
    const refused = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    check("http: no token, 401", refused.status === 401, refused.status);
  } finally {
    server.kill();
  }
}

const running = () => checkTwoSessions(new URL(runningUrl), {}, "running server");

for (const [name, transport] of runningUrl ? [["running server", running]] : [["stdio", stdio], ["http", http]]) {
  try {
    await transport();
  } catch (e) {
    check(`${name}: completed`, false, String(e?.stack ?? e));
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
