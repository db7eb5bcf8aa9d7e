"""The SQLite ledger: what was decided and done for each message, per account and folder. The idempotency gate.

A message is recorded *before* anything is done to it (state `planned`), its draft when appended (`drafted`),
and `done` when filed. A pass that was interrupted resumes from these states instead of repeating work.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from inboxbot.errors import StateError
from inboxbot.faults import checkpoint
from inboxbot.model import AuthResult, Evidence, Invitation, Kind, MessageRef, Person, Verdict

SCHEMA_VERSION = 2
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
"""
# columns added since schema 1, for ledgers written by an older inboxbot
_ADDED_COLUMNS = {2: ("location TEXT", "draft_uid TEXT", "draft_folder TEXT", "draft_to TEXT", "draft_digest TEXT",
                      "draft_fate TEXT", "replay TEXT")}
_OPENING = threading.Lock()
DONE, PLANNED, DRAFTED, ERROR = "done", "planned", "drafted", "error"
SENDING = "sending"  # handed to SMTP; if a pass dies here, the reply is never sent again, only drafted
REPLAYING = "replaying"  # `replay --apply` is changing what a pass did; the next `replay --apply` finishes it
SENT, DISCARDED, REMOVED = "sent", "discarded", "removed"  # what became of a draft (REMOVED: cannot tell which)


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # one pass at a time uses a ledger, but the daemon's passes may run on different threads
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            with _OPENING:  # accounts opening one ledger at once must not race for the journal mode or migration
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"the state database {self.path} cannot be used: {exc}") from exc
        except OSError as exc:
            raise StateError(f"the state database {self.path} cannot be created: {exc.strerror}") from exc

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
        return _Tx(self.db)

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

    def handled_message_id(self, account: str, message_id: str | None) -> sqlite3.Row | None:
        """A finished record for this Message-ID under any UID: the same mail seen before a UIDVALIDITY reset."""
        if not message_id:
            return None
        return self.db.execute("SELECT * FROM messages WHERE account=? AND message_id=? AND state IN (?, ?) "
                               "ORDER BY id LIMIT 1", (account, message_id, DONE, ERROR)).fetchone()

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

    def set_account_status(self, account: str, *, next_run: float | None, success: bool,
                           error: str | None = None) -> None:
        now = time.time()
        self.db.execute("INSERT INTO account_status (account) VALUES (?) ON CONFLICT (account) DO NOTHING", (account,))
        if success:
            self.db.execute("UPDATE account_status SET next_run=?, last_success=?, failures=0 WHERE account=?",
                            (next_run, now, account))
        else:
            self.db.execute("UPDATE account_status SET next_run=?, last_error=?, last_error_at=?, "
                            "failures=failures+1 WHERE account=?", (next_run, error, now, account))

    def rows(self, sql: str, *args: Any) -> Iterator[sqlite3.Row]:
        yield from self.db.execute(sql, args)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        checkpoint("ledger-commit")  # a crash here: the whole transaction is lost, as if it never began
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


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
                  if k in Invitation.__dataclass_fields__}  # JSON has lists where the dataclass has tuples (doubts)
        fields.update(kind=Kind(data["kind"]), inviter=Person(**(data.get("inviter") or {})),
                      evidence=Evidence(**evidence))
        return Invitation(**fields)
    except (ValueError, TypeError, KeyError):
        return None
