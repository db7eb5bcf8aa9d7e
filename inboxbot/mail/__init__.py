"""The Mailbox protocol: what the worker needs from a mail store. Adapters: imap.py (IMAP, via imapclient) and
maildir.py (a local Maildir++ tree, for mbsync/offlineimap/notmuch users and the demo)."""
from __future__ import annotations

from typing import Iterator, Protocol

from inboxbot.model import MessageRef, RawMessage

KEYWORD = "$InboxbotScreened"


class Mailbox(Protocol):
    """All folder names are the config's, with "/" as the hierarchy separator; adapters translate."""

    supports_keywords: bool
    can_remove: bool  # False: removing one message would expunge the whole folder (IMAP without MOVE and UIDPLUS)
    moves_atomically: bool  # False: a move is a COPY and then an EXPUNGE, and a cut between them leaves two copies

    def open(self) -> None: ...

    def close(self) -> None: ...

    def release(self, keep: str | None = None) -> None:
        """Between passes: let go of what a kept connection holds, but keep `keep` (the inbox) open read-only
        where that makes the next idle poll cheaper (IMAP: EXAMINE, then NOOP reports new mail)."""
        ...

    def alive(self) -> bool:
        """Whether a connection kept between passes still works (IMAP NOOP)."""
        ...

    def reader(self) -> "Mailbox | None":
        """A second, read-only connection with the same login, opened, for reading a big backlog ahead of the
        pass (IMAP); None where that gains nothing (Maildir). The caller closes it."""
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

    def append(self, folder: str, raws: list[bytes], flags: tuple[str, ...]) -> list[str | None]:
        """Save messages to a folder: one MULTIAPPEND where the server offers it. Returns their UIDs (None where
        the server does not tell: no UIDPLUS)."""
        ...

    def find_message_id(self, folder: str, message_id: str) -> list[str]:
        """The UIDs of the messages in a folder with this Message-ID (server-side SEARCH)."""
        ...

    def present(self, folder: str, uids: list[str]) -> set[str]:
        """Which of these UIDs are still in the folder and not marked deleted: one UID SEARCH over the set."""
        ...

    def signature(self, folder: str) -> str:
        """Changes whenever the folder's content does (STATUS with HIGHESTMODSEQ under CONDSTORE, else MESSAGES and
        UIDNEXT): one cheap round trip that says whether anything needs looking at."""
        ...

    def delete(self, folder: str, uids: list[str]) -> None:
        """Remove exactly these messages (STORE \\Deleted + UID EXPUNGE of these UIDs; never a folder-wide EXPUNGE)."""
        ...

    def add_flags(self, folder: str, uids: list[str], flags: tuple[str, ...]) -> None: ...

    def move(self, folder: str, uids: list[str], target: str) -> None:
        """Move exactly these messages: one UID MOVE (or UID COPY + UID EXPUNGE of these UIDs)."""
        ...
