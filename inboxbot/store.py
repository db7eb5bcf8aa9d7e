"""The SQLite ledger: what was decided and done for each message, per account and folder. The idempotency gate.

A message is recorded *before* anything is done to it (state `planned`), its draft when appended (`drafted`),
and `done` when filed. A pass that was interrupted resumes from these states instead of repeating work.
"""
from __future__ import annotations

import functools
import getpass
import inspect
import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from types import EllipsisType
from typing import Any, Callable, Iterator
from urllib.parse import quote

from inboxbot.config import DEFAULT_STATE
from inboxbot.errors import StateError
from inboxbot.faults import checkpoint
from inboxbot.model import AuthResult, Evidence, Invitation, Kind, MessageRef, Person, Verdict

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    account TEXT NOT NULL, folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,
    PRIMARY KEY (account, folder));
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid TEXT NOT NULL,
    message_id TEXT, kind TEXT, network TEXT, inviter_key TEXT,
    decision TEXT, template TEXT, reasons TEXT, invitation TEXT,
    state TEXT NOT NULL, error TEXT, draft_message_id TEXT, target_folder TEXT, reply TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL, updated REAL NOT NULL,
    location TEXT, draft_uid TEXT, draft_folder TEXT, draft_to TEXT, draft_digest TEXT, draft_fate TEXT,
    replay TEXT,
    UNIQUE (account, folder, uidvalidity, uid));
CREATE INDEX IF NOT EXISTS messages_by_message_id ON messages (account, message_id);
CREATE INDEX IF NOT EXISTS messages_by_inviter ON messages (account, inviter_key);
CREATE INDEX IF NOT EXISTS messages_by_state ON messages (account, state);
CREATE TABLE IF NOT EXISTS sent_contacts (
    account TEXT NOT NULL, address TEXT NOT NULL, name TEXT, last_seen REAL NOT NULL,
    PRIMARY KEY (account, address));
CREATE TABLE IF NOT EXISTS seen_keys (
    account TEXT NOT NULL, folder TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (account, folder, key));
CREATE TABLE IF NOT EXISTS account_status (
    account TEXT PRIMARY KEY, next_run REAL, last_success REAL, last_error TEXT, last_error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS learned (
    account TEXT NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL, name TEXT, email TEXT, profile_url TEXT,
    source TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (account, key));
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, started REAL NOT NULL, finished REAL,
    counts TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS answers (
    account TEXT NOT NULL, folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid TEXT NOT NULL,
    message_id TEXT, invitation INTEGER NOT NULL, via TEXT NOT NULL, sender TEXT, text TEXT, language TEXT,
    intent TEXT, summary TEXT, advice TEXT, filed_to TEXT, received REAL NOT NULL,
    PRIMARY KEY (account, folder, uidvalidity, uid));
CREATE INDEX IF NOT EXISTS answers_by_invitation ON answers (account, invitation);
"""
# columns added since schema 1, for ledgers written by an older inboxbot
_ADDED_COLUMNS = {2: ("location TEXT", "draft_uid TEXT", "draft_folder TEXT", "draft_to TEXT", "draft_digest TEXT",
                      "draft_fate TEXT", "replay TEXT")}
_OPENING = threading.Lock()
BUSY_TIMEOUT = 30.0  # seconds to wait for another connection's write to end before the ledger counts as locked
DONE, PLANNED, DRAFTED, ERROR = "done", "planned", "drafted", "error"
SENDING = "sending"  # handed to SMTP; if a pass dies here, the reply is never sent again, only drafted
REPLAYING = "replaying"  # `replay --apply` is changing what a pass did; the next `replay --apply` finishes it
SENT, DISCARDED, REMOVED = "sent", "discarded", "removed"  # what became of a draft (REMOVED: cannot tell which)


ANSWERED_BEFORE = "(answered before this ledger)"  # the folder of the records read back from Drafts and Sent
REBUILT = "rebuilt"  # meta key prefix: this account's history was read back from its Drafts and Sent folders


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            with _OPENING:  # accounts opening one ledger at once must not race for its creation or migration
                if str(path) == ":memory:":  # a dry run before the first real one: nothing on disk
                    self._connect(self.path)
                    self._migrate()
                    return
                if self.path.exists():
                    _check(self.path)
                else:
                    self._create()
                self._connect(self.path)
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                self._migrate()
                self._probe_writable()
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from exc
        except OSError as exc:
            raise unwritable(self.path) or StateError(f"the state database {self.path} cannot be created: "
                                                      f"{exc.strerror}") from exc

    def _probe_writable(self) -> None:
        """A ledger that cannot be written fails here, not after the first IMAP write: a write, rolled back."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE meta SET value=value WHERE key='schema_version'")
        finally:
            self.db.execute("ROLLBACK")

    def _connect(self, path: Path) -> None:
        # one pass at a time uses a ledger, but the daemon's passes may run on different threads
        self.db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA synchronous=NORMAL")

    def _create(self) -> None:
        """A new ledger, readable by its owner only (it holds who wrote to them and what they said), made under a
        temporary name and linked into place whole: a crash leaves no empty or half-made file, and a process
        creating it at the same moment gets the same one. Marked new, for the rebuild from Drafts and Sent."""
        if not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".new")
        os.close(fd)  # mkstemp makes it 0600; SQLite gives its -wal and -shm files the same mode
        try:
            self._connect(Path(temporary))
            self.db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self.db.execute("INSERT INTO meta VALUES ('history', 'new')")
            self.db.close()
            try:
                os.link(temporary, self.path)
            except FileExistsError:
                pass  # another process made it meanwhile: use theirs
        finally:
            os.unlink(temporary)

    def needs_rebuild(self, account: str) -> bool:
        """Whether this ledger began empty after answers had been made (deleted, or moved aside as damaged) and
        this account's history has not been read back from its mailbox yet."""
        return self.get_meta("history") == "new" and self.get_meta(f"{REBUILT}:{account}") is None

    def rebuilt(self, account: str) -> None:
        self.set_meta(f"{REBUILT}:{account}", str(time.time()))

    def _migrate(self) -> None:
        existing = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        version = 0
        if existing:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row["value"]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateError(f"the state database {self.path} was written by a newer inboxbot (schema {version}, "
                             f"this one knows {SCHEMA_VERSION})", hint="Upgrade inboxbot, or point "
                             "state.database at another file.")
        if version < SCHEMA_VERSION:
            with self.transaction():
                for step in range(version + 1, SCHEMA_VERSION + 1) if version else ():  # a new file has them
                    for column in _ADDED_COLUMNS.get(step, ()):
                        self.db.execute(f"ALTER TABLE messages ADD COLUMN {column}")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def transaction(self) -> "_Tx":
        return _Tx(self.db, self.path)

    def close(self) -> None:
        self.db.close()

    # --- folders ---------------------------------------------------------------------------------------------

    def last_uid(self, account: str, folder: str, uidvalidity: int) -> tuple[int, bool]:
        """(last UID seen, whether UIDVALIDITY changed since the last pass)."""
        row = self.db.execute("SELECT uidvalidity, last_uid FROM folders WHERE account=? AND folder=?",
                              (account, folder)).fetchone()
        if row is None:
            return 0, False
        if row["uidvalidity"] != uidvalidity:
            return 0, True
        return row["last_uid"], False

    def set_last_uid(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.db.execute("INSERT INTO folders VALUES (?, ?, ?, ?) ON CONFLICT (account, folder) DO UPDATE SET "
                        "uidvalidity=excluded.uidvalidity, last_uid=excluded.last_uid",
                        (account, folder, uidvalidity, last_uid))

    # --- messages --------------------------------------------------------------------------------------------

    def get(self, account: str, ref: MessageRef) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM messages WHERE account=? AND folder=? AND uidvalidity=? AND uid=?",
                               (account, ref.folder, ref.uidvalidity, ref.uid)).fetchone()

    def get_many(self, account: str, refs: list[MessageRef]) -> list[sqlite3.Row | None]:
        """The rows of a batch of messages of one folder, in one query; None where there is none."""
        if not refs:
            return []
        folder, validity = refs[0].folder, refs[0].uidvalidity
        if any(r.folder != folder or r.uidvalidity != validity for r in refs):
            return [self.get(account, r) for r in refs]
        found = {}
        uids = [r.uid for r in refs]
        for start in range(0, len(uids), 500):  # SQLite's limit on parameters
            chunk = uids[start:start + 500]
            for row in self.db.execute(f"SELECT * FROM messages WHERE account=? AND folder=? AND uidvalidity=? AND "
                                       f"uid IN ({','.join('?' * len(chunk))})", (account, folder, validity, *chunk)):
                found[row["uid"]] = row
        return [found.get(u) for u in uids]

    def known_uids(self, account: str, folder: str, uidvalidity: int) -> set[str]:
        return {r[0] for r in self.db.execute(
            "SELECT uid FROM messages WHERE account=? AND folder=? AND uidvalidity=?", (account, folder, uidvalidity))}

    def handled_message_id(self, account: str, message_id: str | None, record: str | None = None,
                           ) -> sqlite3.Row | None:
        """A finished record for this Message-ID under any UID: the same mail seen before a UIDVALIDITY reset, or
        copied back. With `record` (invitation_record), only one of the same parsed form: another message under a
        handled Message-ID (a forgery reusing it) is not found."""
        if not message_id:
            return None
        return self.db.execute("SELECT * FROM messages WHERE account=? AND message_id=? AND (? IS NULL OR "
                               "invitation=?) AND state IN (?, ?) ORDER BY id LIMIT 1",
                               (account, message_id, record, record, DONE, ERROR)).fetchone()

    def replied_to(self, account: str, inviter_key: str | None, since: float,
                   other_than: MessageRef | None = None) -> sqlite3.Row | None:
        """A reply made for another message from the same inviter since `since`."""
        if not inviter_key:
            return None
        ref = other_than or MessageRef("", -1, "")
        return self.db.execute("SELECT * FROM messages WHERE account=? AND inviter_key=? AND draft_message_id IS NOT "
                               "NULL AND state IN (?, ?, ?) AND updated >= ? AND NOT (folder=? AND uidvalidity=? "
                               "AND uid=?) LIMIT 1", (account, inviter_key, DRAFTED, DONE, SENDING, since,
                                                      ref.folder, ref.uidvalidity, ref.uid)).fetchone()

    def unfinished(self, account: str, folder: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM messages WHERE account=? AND folder=? AND state IN (?, ?, ?)",
                               (account, folder, PLANNED, DRAFTED, SENDING)).fetchall()

    def plan(self, account: str, ref: MessageRef, inv: Invitation, verdict: Verdict | None, *, inviter_key: str | None,
             target_folder: str | None, draft_message_id: str | None, state: str = PLANNED,
             error: str | None = None, record: str | None = None) -> None:
        """Record a decision (`record`: invitation_record(inv), when made already). A message recorded before keeps
        its row; only its state, error and a missing draft Message-ID are updated."""
        now = time.time()
        self.db.execute(
            "INSERT INTO messages (account, folder, uidvalidity, uid, message_id, kind, network, inviter_key, decision,"
            " template, reasons, invitation, state, error, draft_message_id, target_folder, first_seen, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET state=excluded.state,"
            " error=excluded.error, updated=excluded.updated,"
            " draft_message_id=coalesce(draft_message_id, excluded.draft_message_id)",
            (account, ref.folder, ref.uidvalidity, ref.uid, inv.message_id, inv.kind.value, inv.network, inviter_key,
             verdict.decision.value if verdict else None, verdict.template if verdict else None,
             json.dumps(list(verdict.reasons) if verdict else []), record or invitation_record(inv),
             state, error, draft_message_id, target_folder, now, now))

    def set_state(self, account: str, ref: MessageRef, state: str, error: str | None = None,
                  reply: str | None = None) -> None:
        self.db.execute("UPDATE messages SET state=?, error=?, updated=?, reply=coalesce(?, reply) WHERE account=? "
                        "AND folder=? AND uidvalidity=? AND uid=?",
                        (state, error, time.time(), reply, account, ref.folder, ref.uidvalidity, ref.uid))

    def note_failure(self, account: str, ref: MessageRef, error: str, give_up_after: int) -> int:
        """Count a failed write for a message; after give_up_after of them it is an error (no more retries).
        Returns the number of attempts so far."""
        key = (account, ref.folder, ref.uidvalidity, ref.uid)
        self.db.execute("UPDATE messages SET attempts=attempts+1, error=?, updated=? WHERE account=? AND folder=? "
                        "AND uidvalidity=? AND uid=?", (error, time.time(), *key))
        attempts = self.db.execute("SELECT attempts FROM messages WHERE account=? AND folder=? AND uidvalidity=? "
                                   "AND uid=?", key).fetchone()[0]
        if attempts >= give_up_after:
            self.db.execute("UPDATE messages SET state=? WHERE account=? AND folder=? AND uidvalidity=? AND uid=?",
                            (ERROR, *key))
        return attempts

    def filed(self, account: str, refs: list[MessageRef]) -> None:
        """These messages are where their plan put them: done."""
        now = time.time()
        self.db.executemany("UPDATE messages SET state=?, error=NULL, updated=?, location=target_folder WHERE "
                            "account=? AND folder=? AND uidvalidity=? AND uid=?",
                            [(DONE, now, account, r.folder, r.uidvalidity, r.uid) for r in refs])

    def set_draft(self, account: str, ref: MessageRef, *, message_id: str, folder: str, uid: str | None,
                  to: str, digest: str) -> None:
        """Where the draft for a message is, to notice later whether the user sent it or threw it away."""
        self.db.execute("UPDATE messages SET draft_message_id=?, draft_folder=?, draft_uid=?, draft_to=?, "
                        "draft_digest=?, draft_fate=NULL WHERE account=? AND folder=? AND uidvalidity=? AND uid=?",
                        (message_id, folder, uid, to, digest, account, ref.folder, ref.uidvalidity, ref.uid))

    def waiting_drafts(self, account: str) -> list[sqlite3.Row]:
        """The bot's drafts whose fate is not known yet (still in Drafts, as far as the ledger knows)."""
        return self.db.execute("SELECT * FROM messages WHERE account=? AND reply='draft' AND draft_fate IS NULL "
                               "AND draft_uid IS NOT NULL", (account,)).fetchall()

    def set_draft_fate(self, account: str, row_id: int, fate: str) -> None:
        self.db.execute("UPDATE messages SET draft_fate=? WHERE account=? AND id=?", (fate, account, row_id))

    def by_id(self, account: str, row_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM messages WHERE account=? AND id=?", (account, row_id)).fetchone()

    def by_message_id(self, account: str, message_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM messages WHERE account=? AND message_id=? AND state=? ORDER BY id DESC "
                               "LIMIT 1", (account, message_id, DONE)).fetchone()

    def set_location(self, account: str, row_id: int, folder: str) -> None:
        self.db.execute("UPDATE messages SET location=? WHERE account=? AND id=?", (folder, account, row_id))

    def remember_answered(self, account: str,
                          answered: list[tuple[str, str | None, str | None, str | None, float, str]]) -> None:
        """Invitations answered before this ledger began, read back from Drafts and Sent: (Message-ID, inviter
        key, invitation record, the folder it is in, when it was answered, the reply's Message-ID). Done, with a
        reply, so that neither a copy nor the inviter is answered again; no decision, so never replayed or
        counted as one of this ledger's."""
        self.db.executemany(
            "INSERT OR IGNORE INTO messages (account, folder, uidvalidity, uid, message_id, inviter_key, invitation,"
            " state, draft_message_id, target_folder, location, first_seen, updated)"
            " VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(account, ANSWERED_BEFORE, message_id, message_id, key, record, DONE, reply, folder, folder, when, when)
             for message_id, key, record, folder, when, reply in answered])

    # --- answers to the replies (answers.py) ---------------------------------------------------------------------

    def asked(self, account: str) -> list[sqlite3.Row]:
        """The invitations answered with a question (a draft or a sent reply). A draft the ledger takes for discarded
        counts too: a mail program that sends under a new Message-ID looks the same, and the inviter may answer."""
        return self.db.execute("SELECT * FROM messages WHERE account=? AND decision IN ('ask', 'feedback') AND "
                               "draft_message_id IS NOT NULL AND state=? ORDER BY id", (account, DONE)).fetchall()

    def record_answer(self, account: str, ref: MessageRef, message_id: str | None, answer: Any) -> None:
        """Link an answer (answers.Answer) to the invitation it answers; recorded before it is filed."""
        reading = answer.reading
        self.db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (account, ref.folder, ref.uidvalidity, ref.uid, message_id, answer.invitation_id, answer.via,
                         answer.sender, answer.text, answer.language, reading.intent, reading.summary, reading.advice,
                         answer.folder, time.time()))

    def answer_by_message_id(self, message_id: str) -> sqlite3.Row | None:
        """An answer recorded under this Message-ID (any account), with its invitation's row as inv_*."""
        return self.db.execute("SELECT a.*, m.invitation AS inv_record, m.location AS inv_location, m.first_seen AS "
                               "inv_first_seen, m.message_id AS inv_message_id FROM answers a JOIN messages m ON "
                               "m.id=a.invitation WHERE a.message_id=? ORDER BY a.received DESC LIMIT 1",
                               (message_id,)).fetchone()

    def answers_since(self, account: str, since: float) -> list[sqlite3.Row]:
        """Answers received since `since`, newest first, one per invitation (its latest)."""
        return self.db.execute("SELECT a.*, m.invitation AS inv_record, m.location AS inv_location FROM answers a "
                               "JOIN messages m ON m.id=a.invitation WHERE a.account=? AND a.received >= ? AND "
                               "a.received = (SELECT max(b.received) FROM answers b WHERE b.account=a.account AND "
                               "b.invitation=a.invitation) ORDER BY a.received DESC", (account, since)).fetchall()

    def unanswered(self, account: str) -> list[sqlite3.Row]:
        """The invitations asked (see `asked`) that no answer is linked to, oldest first."""
        return self.db.execute("SELECT m.* FROM messages m WHERE m.account=? AND m.decision IN ('ask', 'feedback') "
                               "AND m.draft_message_id IS NOT NULL AND m.state=? AND NOT EXISTS (SELECT 1 FROM "
                               "answers a WHERE a.account=m.account AND a.invitation=m.id) ORDER BY m.first_seen",
                               (account, DONE)).fetchall()

    # --- replay ------------------------------------------------------------------------------------------------

    def replayable(self, account: str, since: float = 0.0) -> list[sqlite3.Row]:
        """Finished decisions that can be screened again from their stored parsed form."""
        return self.db.execute("SELECT * FROM messages WHERE account=? AND state=? AND decision IS NOT NULL AND "
                               "first_seen >= ? ORDER BY id", (account, DONE, since)).fetchall()

    def begin_replay(self, account: str, row_id: int, step: dict) -> None:
        self.db.execute("UPDATE messages SET state=?, replay=?, updated=? WHERE account=? AND id=?",
                        (REPLAYING, json.dumps(step), time.time(), account, row_id))

    def replaying(self, account: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM messages WHERE account=? AND state=? ORDER BY id",
                               (account, REPLAYING)).fetchall()

    def finish_replay(self, account: str, row_id: int, *, decision: str, template: str | None, reasons: list[str],
                      target_folder: str | None, location: str | None) -> None:
        self.db.execute("UPDATE messages SET state=?, replay=NULL, decision=?, template=?, reasons=?, "
                        "target_folder=?, location=?, updated=? WHERE account=? AND id=?",
                        (DONE, decision, template, json.dumps(reasons), target_folder, location, time.time(),
                         account, row_id))

    def drop_draft(self, account: str, row_id: int) -> None:
        """The bot's own draft for this message was removed by a replay: no reply is waiting any more."""
        self.db.execute("UPDATE messages SET reply=NULL, draft_message_id=NULL, draft_uid=NULL, draft_folder=NULL, "
                        "draft_to=NULL, draft_digest=NULL, draft_fate=NULL WHERE account=? AND id=?",
                        (account, row_id))

    # --- learned from the user's corrections -------------------------------------------------------------------

    def learn(self, account: str, key: str, action: str, *, name: str | None, email: str | None,
              profile_url: str | None, source: str) -> None:
        """Remember an inviter as a contact or as blocked; the latest correction wins."""
        self.db.execute("INSERT INTO learned VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, key) DO UPDATE "
                        "SET action=excluded.action, source=excluded.source, created=excluded.created",
                        (account, key, action, name, email, profile_url, source, time.time()))

    def learned(self, account: str | None = None) -> list[sqlite3.Row]:
        if account is None:
            return self.db.execute("SELECT * FROM learned ORDER BY account, created").fetchall()
        return self.db.execute("SELECT * FROM learned WHERE account=? ORDER BY created", (account,)).fetchall()

    def forget(self, key: str, account: str | None = None) -> int:
        """Remove a learned contact or block; returns how many entries went."""
        if account is None:
            return self.db.execute("DELETE FROM learned WHERE key=?", (key,)).rowcount
        return self.db.execute("DELETE FROM learned WHERE account=? AND key=?", (account, key)).rowcount

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def sent_since(self, account: str, since: float) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages WHERE account=? AND reply='sent' AND updated >= ?",
                               (account, since)).fetchone()[0]

    # --- the Sent-folder index -------------------------------------------------------------------------------------

    def add_sent_contacts(self, account: str, people: list[tuple[str, str]]) -> None:
        now = time.time()
        self.db.executemany("INSERT INTO sent_contacts VALUES (?, ?, ?, ?) ON CONFLICT (account, address) DO UPDATE "
                            "SET name=coalesce(excluded.name, name), last_seen=excluded.last_seen",
                            [(account, address, name or None, now) for address, name in people])

    def mark_seen(self, account: str, folder: str, keys: list[str]) -> None:
        """For stores without UIDs (Maildir): remember which messages of a folder were read."""
        self.db.executemany("INSERT OR IGNORE INTO seen_keys VALUES (?, ?, ?)", [(account, folder, k) for k in keys])

    def seen(self, account: str, folder: str) -> frozenset[str]:
        return frozenset(r[0] for r in self.db.execute("SELECT key FROM seen_keys WHERE account=? AND folder=?",
                                                       (account, folder)))

    def sent_to_since(self, account: str, address: str, since: float) -> bool:
        """Whether the Sent index saw a message to this address at or after `since`."""
        return self.db.execute("SELECT 1 FROM sent_contacts WHERE account=? AND address=? AND last_seen >= ?",
                               (account, address.lower(), since)).fetchone() is not None

    def sent_contacts(self, account: str) -> list[tuple[str, str | None]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT address, name FROM sent_contacts WHERE account=?", (account,))]

    # --- passes ----------------------------------------------------------------------------------------------

    def start_pass(self, account: str) -> int:
        return self.db.execute("INSERT INTO passes (account, started) VALUES (?, ?)", (account, time.time())).lastrowid

    def finish_pass(self, pass_id: int, counts: dict[str, int], error: str | None = None) -> None:
        self.db.execute("UPDATE passes SET finished=?, counts=?, error=? WHERE id=?",
                        (time.time(), json.dumps(counts), error, pass_id))

    def set_account_status(self, account: str, *, next_run: float | None | EllipsisType = ...,
                           success: bool | None = None, error: str | None = None) -> None:
        """The outcome of a pass (success True/False) and when the daemon runs the next one (None: no daemon is
        running; left as it is when not given, as by `once`)."""
        now = time.time()
        self.db.execute("INSERT INTO account_status (account) VALUES (?) ON CONFLICT (account) DO NOTHING", (account,))
        if next_run is not ...:
            self.db.execute("UPDATE account_status SET next_run=? WHERE account=?", (next_run, account))
        if success:
            self.db.execute("UPDATE account_status SET last_success=?, failures=0 WHERE account=?", (now, account))
        elif success is False:
            self.db.execute("UPDATE account_status SET last_error=?, last_error_at=?, failures=failures+1 "
                            "WHERE account=?", (error, now, account))

    def rows(self, sql: str, *args: Any) -> Iterator[sqlite3.Row]:
        yield from self.db.execute(sql, args)


def unwritable(path: Path) -> StateError | None:
    """Why the ledger cannot be written, when that is the trouble — a read-only file system, or a file or folder
    this user may not write — said so that it is fixed where it is (a healthy ledger is never to be moved aside)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a uid with no name (a container's)
        user = f"uid {os.getuid()}"
    fix = (f"Make it writable for user {user} (chown/chmod), or point state.database at a place that is "
           f"(the default is {DEFAULT_STATE}).")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return StateError(f"the state database {path} cannot be written: {folder} is on a read-only file system",
                          hint=f"Point state.database at a writable place (the default is {DEFAULT_STATE}; under "
                               "systemd, list its folder in ReadWritePaths=).")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return StateError(f"the state database {path} cannot be written by user {user}: permission denied "
                          f"(mode {path.stat().st_mode & 0o777:o}, owner uid {path.stat().st_uid})", hint=fix)
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "created" if not path.exists() else "written (SQLite keeps its -wal and -shm files beside it)"
        return StateError(f"the state database {path} cannot be {what}: user {user} may not write to the folder "
                          f"{folder} (permission denied)", hint=fix)
    return None


_DAMAGED_HINT = ("Check state.database; move a damaged file aside (keep it for inspection) and run again: inboxbot "
                 "starts a fresh ledger and reads who was answered back from the Drafts and Sent folders.")


def _check(path: Path) -> None:
    """Refuse a ledger that is empty or damaged before anything writes to it, so that the file stays as it is
    (read on a read-only connection; a damaged page would otherwise surface mid-pass, or be written over)."""
    if path.stat().st_size == 0:
        raise StateError(f"the state database {path} cannot be used: it is empty (0 bytes), so it no longer says "
                         "what was done", hint=_DAMAGED_HINT)
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    finally:
        db.close()
    if problems != ["ok"]:
        raise StateError(f"the state database {path} cannot be used: it is damaged ({problems[0]})",
                         hint=_DAMAGED_HINT)


def failure(path: Path, exc: sqlite3.Error) -> StateError:
    """An SQLite error as the one sentence a user sees: what is wrong with the ledger, and what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StateError(f"the state database {path} cannot be used: it is damaged ({exc})", hint=_DAMAGED_HINT)
    if name.startswith("SQLITE_FULL"):
        return StateError(f"the disk holding the state database {path} is full",
                          hint="Free some space; inboxbot goes on where it stopped.")
    if name.startswith("SQLITE_IOERR"):
        return StateError(f"the state database {path} could not be written or read ({exc}: the disk may be full, "
                          "over a quota or failing)", hint="Free some space or check the disk; inboxbot goes on "
                                                          "where it stopped.")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StateError(f"the state database {path} is locked by another program",
                          hint="Close the program that holds it (an sqlite3 shell, a backup tool) and run again.")
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")):
        return unwritable(path) or StateError(f"the state database {path} cannot be written ({exc})",
                                              hint="Check that the file and its folder belong to the user running "
                                                   "inboxbot and are writable.")
    return StateError(f"the state database {path} failed: {exc}",
                      hint="Check the disk and the file; rerun with --debug for details.")


def _mapped(method: Callable) -> Callable:
    """A Ledger method whose SQLite errors are inboxbot's (StateError), generators included."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self: "Ledger", *args: Any, **kwargs: Any) -> Iterator:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise failure(self.path, exc) from exc
        return generator

    @functools.wraps(method)
    def call(self: "Ledger", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from exc
    return call


for _name, _method in list(vars(Ledger).items()):
    if inspect.isfunction(_method) and not _name.startswith("__") and _name != "transaction":
        setattr(Ledger, _name, _mapped(_method))


class _Tx:
    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from exc
        return self.db

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        checkpoint("ledger-commit")  # a crash here: the whole transaction is lost, as if it never began
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:  # a COMMIT that failed (disk full) leaves the transaction open
                self.db.execute("ROLLBACK")
            raise failure(self.path, exc) from exc


def invitation_record(inv: Invitation) -> str:
    """The parsed form kept for later (replay re-screens it without the server), evidence included, as JSON text.
    Made where the invitation is parsed (on every core, for a backlog), not where it is written."""
    return json.dumps(_plain(inv))


def _plain(value: Any) -> Any:
    """Dataclasses, enums and tuples as JSON values. dataclasses.asdict does the same with a deep copy of every
    leaf, which a backlog of thousands of invitations feels."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    names = _FIELDS.get(type(value))
    if names is None:
        if not is_dataclass(value):
            return value
        names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
    return {name: _plain(getattr(value, name)) for name in names}


_FIELDS: dict[type, tuple[str, ...]] = {}


def invitation_from_json(text: str | None) -> Invitation | None:
    """The stored parsed form back as an Invitation; None when there is none (or it is damaged)."""
    try:
        data = json.loads(text or "null")
        if not isinstance(data, dict):
            return None
        evidence = dict(data.get("evidence") or {})
        evidence["auth_results"] = tuple(
            AuthResult(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
            for r in evidence.get("auth_results", ()))
        for key, value in evidence.items():
            if isinstance(value, list):
                evidence[key] = tuple(value)
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
                  if k in Invitation.__dataclass_fields__}
        inviter = {k: tuple(v) if isinstance(v, list) else v for k, v in (data.get("inviter") or {}).items()}
        fields.update(kind=Kind(data["kind"]), inviter=Person(**inviter),
                      evidence=Evidence(**evidence))
        return Invitation(**fields)
    except (ValueError, TypeError, KeyError):
        return None
