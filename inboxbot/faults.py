"""Crash points for the fault-injection tests (tests/test_faults.py), in the spirit of SQLite's test hooks.

`checkpoint(name)` does nothing unless the environment variable INBOXBOT_CRASH_AT is "NAME:N": then the process
kills itself with SIGKILL the Nth time it reaches that point — no cleanup, no flush, as a power cut would.
"""
from __future__ import annotations

import os
import signal
from collections import Counter

_TARGET = os.environ.get("INBOXBOT_CRASH_AT", "")
_NAME, _, _NTH = _TARGET.partition(":")
_reached: Counter = Counter()


def checkpoint(name: str) -> None:
    if not _TARGET or name != _NAME:
        return
    _reached[name] += 1
    if _reached[name] == int(_NTH or 1):
        os.kill(os.getpid(), signal.SIGKILL)
