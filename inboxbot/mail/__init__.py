"""The Mailbox protocol: what the worker needs from a mail store. Adapters: imap.py (IMAP, via imapclient) and
maildir.py (a local Maildir++ tree, for mbsync/offlineimap/notmuch users and the demo)."""
from __future__ import annotations

from typing import Iterator, Protocol

from inboxbot.model import MessageRef, RawMessage

KEYWORD = "$InboxbotScreened"


class Mailbox(Protocol):
    """All folder names are the config's, with "/" as the hierarchy separator; adapters translate."""

    supports_keywords: bool

    def open(self) -> None: ...

    def close(self) -> None: ...

    def uidvalidity(self, folder: str) -> int: ...

    def fetch_new(self, folder: str, after_uid: int, batch_size: int, known: frozenset[str] = frozenset(),
                  header_fields: tuple[str, ...] = ()) -> Iterator[list[RawMessage]]:
        """New messages in batches: IMAP asks for UIDs above after_uid; Maildir skips the keys in `known`.
        With header_fields, only those headers are fetched (e.g. To and Cc for the Sent-folder index)."""
        ...

    def sent_folder(self, configured: str = "") -> str | None: ...

    def exists(self, ref: MessageRef) -> bool: ...

    def ensure_folder(self, folder: str) -> None: ...

    def drafts_folder(self, configured: str = "") -> str: ...

    def append(self, folder: str, raw: bytes, flags: tuple[str, ...]) -> None: ...

    def has_message_id(self, folder: str, message_id: str) -> bool: ...

    def add_flags(self, ref: MessageRef, flags: tuple[str, ...]) -> None: ...

    def move(self, ref: MessageRef, folder: str) -> None: ...
