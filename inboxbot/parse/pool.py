"""Parsing and screening on every core for a backlog: a spawn process pool whose workers import only the parser
and the policy (not the worker, the composer or jinja2), get the pass's chain once, and leave when inboxbot is
gone."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import TYPE_CHECKING, NamedTuple

from inboxbot.model import Invitation, Verdict
from inboxbot.parse import parse
from inboxbot.store import invitation_record

if TYPE_CHECKING:
    from inboxbot.policy.chain import Chain

_chain: Chain | None = None  # in a worker: the chain of the pass that started it


def start(workers: int, chain: Chain) -> ProcessPoolExecutor:
    """The pool, its workers starting now (a worker takes a good part of a second to start and import the parser:
    started with the pass, they are ready when the first batch comes)."""
    # spawn, not fork: the daemon has threads (IDLE watchers, the scheduler), and forking a threaded process can
    # copy a lock in a held state
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_start_worker, initargs=(os.getpid(), chain))
    for _ in range(workers):
        pool.submit(_ready)  # the pool starts a worker for each task it cannot hand to an idle one
    return pool


def _ready() -> None:
    """A task that only makes the pool start a worker."""


class Screened(NamedTuple):
    """One message read and screened."""

    inv: Invitation
    verdict: Verdict
    record: str  # the invitation as the ledger keeps it (store.invitation_record)


def screened(raw: bytes, chain: Chain) -> Screened:
    """Read one message, screen it and make its record: the pure middle of a pass, the same in a worker and in
    inboxbot (where the record would be made on the one connection that writes, one message after another)."""
    inv = parse(raw)
    return Screened(inv, chain.screen(inv), invitation_record(inv))


def screen_chunk(raws: list[bytes]) -> list[Screened]:
    assert _chain is not None, "a pool worker gets its chain when it starts"
    return [screened(raw, _chain) for raw in raws]


def _start_worker(parent: int, chain: Chain) -> None:
    global _chain
    _chain = chain

    def watch() -> None:
        """Leave when inboxbot is gone (killed with SIGKILL, workers would otherwise linger)."""
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
