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
