"""A local Maildir++ tree: INBOX is the root, `Invitations/Accept` is `.Invitations.Accept`. Drafts get the `D`
flag. Maildir has no keywords, so the ledger alone remembers what was handled."""
from __future__ import annotations

import mailbox
import os
from pathlib import Path
from typing import Iterator

from inboxbot.errors import MailboxError
from inboxbot.model import MessageRef, RawMessage

_FLAGS = {"\\Seen": "S", "\\Flagged": "F", "\\Draft": "D", "\\Answered": "R", "\\Deleted": "T"}


class MaildirMailbox:
    supports_keywords = False
    moves_atomically = True  # a rename
    can_remove = True

    def __init__(self, path: Path, inbox: str = "INBOX") -> None:
        self.root_path = Path(os.path.expanduser(str(path)))
        self.inbox = inbox
        self.root: mailbox.Maildir | None = None

    def open(self) -> None:
        if not (self.root_path / "cur").is_dir() and not (self.root_path / "new").is_dir():
            raise MailboxError(f"{self.root_path} is not a Maildir (it has no cur/ and new/ folders)",
                               hint="Set account.path to the Maildir that holds your inbox.")
        self.root = mailbox.Maildir(str(self.root_path), factory=None, create=False)

    def close(self) -> None:
        self.root = None

    def alive(self) -> bool:
        return self.root is not None

    def release(self, keep: str | None = None) -> None:
        pass

    def reader(self) -> None:
        return None  # files are read as fast as they are listed: nothing to overlap

    def _folder(self, name: str, create: bool = False) -> mailbox.Maildir:
        assert self.root is not None, "open() first"
        if name == self.inbox or name.upper() == "INBOX":
            return self.root
        dotted = "." + name.replace("/", ".")
        path = self.root_path / dotted
        if not path.is_dir():
            if not create:
                raise MailboxError(f"the Maildir folder {name} ({path}) does not exist")
            return mailbox.Maildir(str(path), factory=None, create=True)
        return mailbox.Maildir(str(path), factory=None, create=False)

    def uidvalidity(self, folder: str) -> int:
        self._folder(folder)
        return 1  # Maildir keys are stable file names: there is nothing to invalidate

    def peek(self, folder: str) -> tuple[int, int | None]:
        return self.uidvalidity(folder), None

    def fetch_new(self, folder: str, after_uid: int, batch_size: int, known: frozenset[str] = frozenset(),
                  section: str = "") -> Iterator[list[RawMessage]]:
        if folder == "Drafts" and not (self.root_path / ".Drafts").is_dir():
            return  # the default Drafts folder is made by the first draft: until then it holds nothing
        box = self._folder(folder)
        batch: list[RawMessage] = []
        for key in sorted(box.iterkeys(), key=lambda k: (_mtime(box, k), k)):
            if key in known:
                continue
            message = self._read(box, folder, key, headers_only=bool(section))
            if message is not None:
                batch.append(message)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def fetch(self, folder: str, uids: list[str]) -> list[RawMessage]:
        box = self._folder(folder)
        return [m for m in (self._read(box, folder, key) for key in uids) if m is not None]

    @staticmethod
    def _read(box: mailbox.Maildir, folder: str, key: str, headers_only: bool = False) -> RawMessage | None:
        try:
            if headers_only:  # the header block is all that is wanted: read no further
                with box.get_file(key) as fh:
                    return RawMessage(MessageRef(folder, 1, key), _read_header(fh))
            msg = box.get_message(key)
        except (KeyError, OSError):
            return None  # moved away by another program between listing and reading
        flags = frozenset(f for f, c in _FLAGS.items() if c in msg.get_flags())
        return RawMessage(MessageRef(folder, 1, key), msg.as_bytes(unixfrom=False), flags)

    def sent_folder(self, configured: str = "") -> str | None:
        if configured:
            return self._configured(configured, "folders.sent")
        return "Sent" if (self.root_path / ".Sent").is_dir() else None

    def exists(self, ref: MessageRef) -> bool:
        try:
            self._folder(ref.folder).get_file(ref.uid).close()
            return True
        except KeyError:
            return False

    def ensure_folder(self, folder: str) -> None:
        self._folder(folder, create=True)

    def drafts_folder(self, configured: str = "") -> str:
        return self._configured(configured, "folders.drafts") if configured else "Drafts"  # created by append

    def _configured(self, name: str, key: str) -> str:
        """A folder the config names must exist: a typo would otherwise become a folder nobody looks at."""
        if (self.root_path / ("." + name.replace("/", "."))).is_dir():
            return name
        existing = sorted(p.name[1:].replace(".", "/") for p in self.root_path.glob(".?*") if (p / "cur").is_dir())
        raise MailboxError(f"{key} names the folder {name!r}, which does not exist; the folders are: "
                           f"{', '.join(['INBOX'] + existing)}",
                           hint=f"Set {key} to one of them (or leave it empty for the default).")

    def append(self, folder: str, raws: list[bytes], flags: tuple[str, ...]) -> list[str | None]:
        box = self._folder(folder, create=True)
        keys: list[str | None] = []
        for raw in raws:
            msg = mailbox.MaildirMessage(raw)
            msg.set_subdir("cur")
            msg.set_flags("".join(sorted(_FLAGS[f] for f in flags if f in _FLAGS)))
            keys.append(box.add(msg))
        return keys

    def find_message_id(self, folder: str, message_id: str) -> list[str]:
        box = self._folder(folder, create=True)
        found = []
        for key in box.iterkeys():
            try:
                with box.get_file(key) as fh:
                    head = _read_header(fh)
            except (KeyError, OSError):
                continue
            if message_id.encode() in head:
                found.append(key)
        return found

    def present(self, folder: str, uids: list[str]) -> set[str]:
        return {key for key in uids if self.exists(MessageRef(folder, 1, key))}

    def signature(self, folder: str) -> str:
        """Adding, removing or re-flagging a message renames files, which changes its directories' times."""
        base = Path(self._folder(folder, create=True)._path)  # noqa: SLF001 - no public accessor
        return " ".join(str(os.stat(base / sub).st_mtime_ns) for sub in ("new", "cur"))

    def delete(self, folder: str, uids: list[str]) -> None:
        box = self._folder(folder)
        for key in uids:
            box.discard(key)

    def add_flags(self, folder: str, uids: list[str], flags: tuple[str, ...]) -> None:
        box = self._folder(folder)
        chars = "".join(_FLAGS[f] for f in flags if f in _FLAGS)
        if not chars:
            return
        for key in uids:
            msg = box.get_message(key)
            msg.add_flag(chars)
            box[key] = msg

    def move(self, folder: str, uids: list[str], target: str) -> None:
        """Add to the target, then remove the source: a crash in between leaves a copy, never a loss."""
        source = self._folder(folder)
        destination = self._folder(target, create=True)
        for key in uids:
            destination.add(source.get_message(key))
            source.discard(key)


def _read_header(fh) -> bytes:
    lines = []
    for line in fh:
        if line in (b"\n", b"\r\n"):
            break
        lines.append(line)
    return b"".join(lines)


def _mtime(box: mailbox.Maildir, key: str) -> float:
    try:
        return os.path.getmtime(os.path.join(box._path, box._lookup(key)))  # noqa: SLF001 - no public accessor
    except (KeyError, OSError):
        return 0.0
