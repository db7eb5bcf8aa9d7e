"""One worker per ledger: `once`, `run` and `replay --apply` hold an OS file lock (flock) on `<ledger>.lock`.

The kernel releases the lock when the process ends, however it ends (SIGKILL included), so a stale lock cannot
block anyone. The file says who holds it (PID, host, since when) for the message a second process prints, and
the holder's last error per account, for `inboxbot status` when the ledger itself cannot take it (disk full, read-only).
The file is never removed: removing it would let two processes lock two different files of the same name.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from inboxbot.errors import StateError
from inboxbot.store import unwritable

_held: dict[Path, int] = {}  # lock file -> its descriptor, for this process


class AlreadyRunning(StateError):
    hint = ("Stop the other one first (or let it finish); add --wait to wait for it. `inboxbot status` works "
            "meanwhile.")


def lock_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".lock")


def holder(ledger: Path) -> dict | None:
    """What the lock file of a ledger says about the process that holds (or last held) it; None if nothing."""
    try:
        data = json.loads(lock_path(ledger).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(who: dict | None) -> str:
    if not who:
        return "another inboxbot"
    since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(who.get("since", 0)))
    return f"another inboxbot (PID {who.get('pid')} on {who.get('host')}, since {since})"


@contextmanager
def single(ledgers: Iterable[Path], *, wait: bool = False) -> Iterator[None]:
    """Hold the lock of every ledger (each once, in a fixed order, so two processes cannot deadlock) for the block.
    Raises AlreadyRunning if another process holds one, unless `wait`."""
    with ExitStack() as stack:
        for ledger in sorted({Path(p).resolve() for p in ledgers}):
            stack.enter_context(_lock(ledger, wait))
        yield


@contextmanager
def _lock(ledger: Path, wait: bool) -> Iterator[None]:
    path = lock_path(ledger)
    try:
        ledger.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise unwritable(ledger) or StateError(f"the lock file {path} cannot be created: {exc.strerror}",
                                               hint="Check that the folder of state.database exists and can be "
                                                    "written.") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = describe(holder(ledger))
            if not wait:
                raise AlreadyRunning(f"{who} is running on the state database {ledger}; this one stops so "
                                     "that nothing is done twice") from None
            print(f"inboxbot: waiting for {who} to finish with {ledger}", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        _write(fd, {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        _held[ledger] = fd
        yield
    finally:
        _held.pop(ledger, None)
        os.close(fd)  # releases the lock


def note_error(ledger: Path, account: str, error: str | None) -> None:
    """Keep an account's last error in the lock file this process holds (for `status`); None clears it."""
    fd = _held.get(Path(ledger).resolve())
    if fd is None:
        return
    try:
        who = json.loads(os.pread(fd, 65536, 0) or b"null") or {}
        errors = who.setdefault("errors", {})
        if error:
            errors[account] = {"message": error, "at": time.time()}
        else:
            errors.pop(account, None)
        _write(fd, who)
    except (OSError, ValueError):
        pass  # the lock file is only a messenger; the error is logged anyway


def _write(fd: int, data: dict) -> None:
    text = json.dumps(data).encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))
