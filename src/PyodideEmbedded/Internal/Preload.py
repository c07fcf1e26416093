# Runs once in the template engine, before its memory image is taken: modules imported here are
# already loaded in every sandbox restored from that image. Nothing seeded from randomness may be
# created here (the image is shared): `random` must not be imported.
import ast
import asyncio
import builtins
import json
import re
import sys
import traceback
import time

_seeded_at_start = "random" in sys.modules

# Everything loaded so far lives as long as the sandbox. Freezing it keeps the cyclic GC of every
# restored sandbox from walking (and so writing to) these objects: their pages of the image stay
# shared between sandboxes instead of being copied into each one.
import gc

gc.collect()
gc.freeze()
