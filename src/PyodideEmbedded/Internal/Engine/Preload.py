# Runs once in the template engine, before its memory image is taken: modules imported here are
# already loaded in every sandbox restored from that image. Nothing seeded from randomness may be
# created here (the image is shared): `random` must not be imported.
import ast  # noqa: F401 (preloaded for the image)
import asyncio  # noqa: F401 (preloaded for the image)
import builtins  # noqa: F401 (preloaded for the image)
import gc
import json
import re  # noqa: F401 (preloaded for the image)
import sys
import time  # noqa: F401 (preloaded for the image)
import traceback  # noqa: F401 (preloaded for the image)
import types


def load_runner(source, protocol_json):
    """Compiles and runs the runner (Runner.py) here, once, instead of in every sandbox at start.

    `protocol_json` is the host's declaration of the crossing (SandboxProtocol.cs): the runner reads its
    file names and result keys from it, as the global PROTOCOL."""
    protocol = json.loads(protocol_json)
    names = protocol["names"]
    runner = types.ModuleType(names["runnerModule"])
    runner.PROTOCOL = protocol
    exec(compile(source, names["runnerFile"], "exec"), runner.__dict__)
    sys.modules[names["runnerModule"]] = runner
    # Everything loaded so far lives as long as the sandbox. Freezing it keeps the cyclic GC of
    # every restored sandbox from walking (and so writing to) these objects: their pages of the
    # image stay shared between sandboxes instead of being copied into each one.
    gc.collect()
    gc.freeze()
