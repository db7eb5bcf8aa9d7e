"""Reading a big inbox ahead of the pass, on a second, read-only connection: while inboxbot decides and files one
part of a backlog, the next batches are fetched and sorted (mail that claims a network read whole, the rest by its
headers alone), so the server's time and inboxbot's overlap. It only reads: every write stays on the pass's own
connection, in the pass's order, so crash safety is unchanged."""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Iterator

from inboxbot import parse
from inboxbot.mail import KEYWORD, Mailbox
from inboxbot.model import RawMessage

log = logging.getLogger("inboxbot")
GROUP = 4  # batches read with one FETCH of headers and one of whole messages
DEPTH = 4  # batches waiting to be taken: with a group in hand, up to 8 batches read ahead (little memory)
STOP_WAIT = 60.0  # seconds to wait for a fetch in flight when the pass ends early


@dataclass(frozen=True)
class Fetched:
    """One batch, read and sorted ahead."""

    batch: list[RawMessage]  # the header blocks, as fetch_new gives them
    claimed: frozenset[str]  # UIDs whose headers claim a network (those without inboxbot's keyword)
    whole: dict[str, RawMessage]  # those messages, read whole


def sorted_batches(mailbox: Mailbox, folder: str, groups: Iterator[list[RawMessage]],
                   batch_size: int) -> Iterator[Fetched]:
    """Header blocks, a group at a time, sorted: the messages that claim a network (and carry no inboxbot keyword)
    read whole with one FETCH per group, the rest known by their headers alone; handed on in batches."""
    for group in groups:
        claimed = {r.ref.uid for r in group if KEYWORD not in r.flags and parse.claims_network(r.raw)}
        whole = {m.ref.uid: m for m in mailbox.fetch(folder, [r.ref.uid for r in group if r.ref.uid in claimed])}
        for start in range(0, len(group), batch_size):
            batch = group[start:start + batch_size]
            uids = {r.ref.uid for r in batch}
            yield Fetched(batch, frozenset(claimed & uids), {uid: whole[uid] for uid in uids & whole.keys()})


class ReadAhead:
    """Iterate to get the batches in order; an error of the reading connection is raised where it is met. Always
    close(), which also closes the reading connection."""

    def __init__(self, reader: Mailbox, folder: str, after_uid: int, batch_size: int, known: frozenset[str]) -> None:
        self._reader = reader
        self._queue: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(folder, after_uid, batch_size, known),
                                        name="inboxbot-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, folder: str, after_uid: int, batch_size: int, known: frozenset[str]) -> None:
        try:
            # GROUP batches per FETCH: on a distant server the round trips, not the bytes, are what take the time
            groups = self._reader.fetch_new(folder, after_uid, batch_size * GROUP, known, section="HEADER")
            for fetched in sorted_batches(self._reader, folder, groups, batch_size):
                if not self._put(fetched):
                    return
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 — handed to the pass, which raises it in its own thread
            self._put(exc)

    def _put(self, item: Fetched | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Fetched]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(STOP_WAIT)
        if self._thread.is_alive():
            log.warning("the read-ahead connection did not finish its fetch within %.0f s; closing it", STOP_WAIT)
        self._reader.close()
