"""Parsing on every core for a backlog: a spawn process pool whose workers import only the parser (not the worker,
the composer or jinja2) and leave when inboxbot is gone."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from inboxbot.model import Invitation
from inboxbot.parse import parse


def start(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the daemon has threads (IDLE watchers, the scheduler), and forking a threaded process can
    # copy a lock in a held state
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def parse_chunk(raws: list[bytes]) -> list[Invitation]:
    return [parse(raw) for raw in raws]


def _exit_with_parent(parent: int) -> None:
    """In a parse worker: leave when inboxbot is gone (killed with SIGKILL, workers would otherwise linger)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
