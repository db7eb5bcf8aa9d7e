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

    def release(self) -> None:
        """Between passes: let go of what a kept connection holds (the selected folder)."""
        ...

    def alive(self) -> bool:
        """Whether a connection kept between passes still works (IMAP NOOP)."""
        ...

    def uidvalidity(self, folder: str) -> int: ...

    def peek(self, folder: str) -> tuple[int, int | None]:
        """(UIDVALIDITY, UIDNEXT) without opening the folder: one cheap round trip (IMAP STATUS), whatever its
        size. UIDNEXT is None where the store cannot tell (Maildir)."""
        ...

    def fetch_new(self, folder: str, after_uid: int, batch_size: int, known: frozenset[str] = frozenset(),
                  section: str = "") -> Iterator[list[RawMessage]]:
        """New messages in batches: IMAP asks for UIDs above after_uid; Maildir skips the keys in `known`.
        `section` fetches part of each message: "HEADER" (the header block), "HEADER.FIELDS (TO CC)", or "" (all)."""
        ...

    def fetch(self, folder: str, uids: list[str]) -> list[RawMessage]:
        """Whole messages by UID (those that still exist), in one round trip."""
        ...

    def sent_folder(self, configured: str = "") -> str | None: ...

    def exists(self, ref: MessageRef) -> bool: ...

    def ensure_folder(self, folder: str) -> None: ...

    def drafts_folder(self, configured: str = "") -> str: ...

    def append(self, folder: str, raws: list[bytes], flags: tuple[str, ...]) -> None:
        """Save messages to a folder: one MULTIAPPEND where the server offers it."""
        ...

    def has_message_id(self, folder: str, message_id: str) -> bool: ...

    def add_flags(self, folder: str, uids: list[str], flags: tuple[str, ...]) -> None: ...

    def move(self, folder: str, uids: list[str], target: str) -> None:
        """Move exactly these messages: one UID MOVE (or UID COPY + UID EXPUNGE of these UIDs)."""
        ...
