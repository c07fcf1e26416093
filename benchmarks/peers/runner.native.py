# Native CPython reference for the benchmarks: the same JSON-lines protocol as the Pyodide runners,
# with no sandbox at all. Not a product; it only gives the CPU-bound rows a native baseline.
import ast
import json
import sys

namespace = {"__name__": "__main__"}


def run(code):
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<exec>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<exec>", "eval"), namespace) if last else None


for line in sys.stdin:
    request = json.loads(line)
    if request.get("shutdown"):
        break
    try:
        reply = {"output": run(request["code"])}
    except Exception as e:
        reply = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(reply, default=repr) + "\n")
    sys.stdout.flush()
