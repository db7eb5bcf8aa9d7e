"""The ledger's edges: created private, refused when empty or damaged (and then left byte for byte as it was),
SQLite failures (locked, a write the disk refuses) as one sentence with exit 2, and in `run` a backoff that
`status` shows."""
from __future__ import annotations

import hashlib
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inboxbot import store
from inboxbot.cli import main
from inboxbot.errors import StateError
from inboxbot.store import Ledger
from tests.conftest import PASSWORD, corpus_message
from tests.test_daemon import stop, wait_for
from tests.test_imap_once import write_config


def maildir_config(tmp_path: Path, db: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{tmp_path / "Maildir"}"\n[replies]\nmode = "off"\n'
                   f'[state]\ndatabase = "{db}"\n')
    return cfg


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_ledger_and_its_folder_are_private_whatever_the_umask(tmp_path):
    db = tmp_path / "state" / "inboxbot" / "state.sqlite3"
    old = os.umask(0)
    try:
        ledger = Ledger(db)
        ledger.set_meta("probe", "1")  # the -wal and -shm files exist while it is open
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in db.parent.iterdir()}
        ledger.close()
    finally:
        os.umask(old)
    assert modes == {"state.sqlite3": "0o600", "state.sqlite3-wal": "0o600", "state.sqlite3-shm": "0o600"}
    assert oct(db.parent.stat().st_mode & 0o777) == "0o700"


def test_an_empty_ledger_is_refused_and_left_alone(tmp_path, capsys):
    db = tmp_path / "state.sqlite3"
    db.touch()
    cfg = maildir_config(tmp_path, db)
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "is empty (0 bytes)" in err and "move a damaged file aside" in err and "Traceback" not in err
    assert db.stat().st_size == 0


def test_a_damaged_page_inside_a_valid_file_is_refused_and_the_file_stays_byte_identical(tmp_path, capsys):
    db = tmp_path / "state.sqlite3"
    ledger = Ledger(db)
    with ledger.transaction():
        ledger.add_sent_contacts("me", [(f"person{i}@example.org", f"Person {i}") for i in range(3000)])
    ledger.close()
    data = bytearray(db.read_bytes())
    page = 4096
    assert data[:16] == b"SQLite format 3\x00" and len(data) > 20 * page
    # a b-tree page in the middle of the file (page type 13: a table leaf) gets a nonsense header
    middle = next(n for n in range(len(data) // page // 2, len(data) // page) if data[n * page] == 13)
    data[middle * page:middle * page + 8] = b"\xff" * 8
    db.write_bytes(bytes(data))
    before = digest(db)
    cfg = maildir_config(tmp_path, db)
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cannot be used: it is damaged" in err and "move a damaged file aside" in err and "Traceback" not in err
    assert main(["status", "--config", str(cfg)]) == 0
    assert "last error:    the state database" in capsys.readouterr().out
    assert digest(db) == before


def test_a_ledger_another_program_holds_locked_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT", 0.2)
    db = tmp_path / "state.sqlite3"
    Ledger(db).close()
    cfg = maildir_config(tmp_path, db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta VALUES ('other', 'program')")
    try:
        assert main(["once", "--config", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert "is locked by another program" in err and "Traceback" not in err
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert main(["once", "--config", str(cfg)]) == 0


def test_sqlite_errors_in_use_are_one_sentence(tmp_path):
    db = tmp_path / "state.sqlite3"
    Ledger(db).close()
    ledger = Ledger(db)
    ledger.db.close()
    # what SQLite says of a file it may not write (the tests run as root, whom file modes do not stop)
    ledger.db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(StateError, match="cannot be written .attempt to write a readonly database") as raised:
        ledger.set_meta("probe", "1")
    assert "writable" in raised.value.hint and isinstance(raised.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(StateError, match="cannot be written"):
        with ledger.transaction():
            ledger.set_meta("probe", "1")
    assert not ledger.db.in_transaction  # rolled back
    ledger.db.close()  # the generator behind `rows` maps its errors too
    with pytest.raises(StateError, match="failed: Cannot operate on a closed database"):
        list(ledger.rows("SELECT 1"))


def _limited(size: int):
    def limit() -> None:  # the ledger may not grow past `size` bytes, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    return limit


def test_a_disk_that_refuses_ledger_writes_backs_the_daemon_off_and_status_shows_it(dovecot, imap_user, tmp_path):
    client = dovecot.client(imap_user)
    client.multiappend("INBOX", [corpus_message(n).replace(b"Message-ID: <", f"Message-ID: <f{i}.".encode(), 1)
                                 for i in range(40) for n in ("027", "028", "029", "022")])
    cfg = write_config(tmp_path, dovecot, imap_user, schedule='interval = "1s"\nidle = false\nbackoff_max = "1h"')
    db = tmp_path / "state.sqlite3"
    Ledger(db).close()
    env = dict(os.environ, INBOXBOT_PASSWORD=PASSWORD)
    daemon = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_limited(db.stat().st_size + 40_000))
    try:
        status = {}

        def failed() -> bool:
            status["out"] = subprocess.run([sys.executable, "-m", "inboxbot", "status", "--config", str(cfg)],
                                           env=env, capture_output=True, text=True, timeout=60).stdout
            return "could not be written or read" in status["out"]
        wait_for(failed, timeout=60, step=0.5)
        time.sleep(3)  # three intervals: without a backoff, three more failed passes
    finally:
        err = stop(daemon)
    assert "NOT healthy" in status["out"] and "the disk may be full" in status["out"]
    assert "Traceback" not in err
    assert "pass failed: the state database" in err and "next attempt in" in err
    assert err.count("pass failed") <= 2  # the first backoff is 2.5-5 s, not the 1 s interval
    client.logout()


def test_replay_apply_moves_a_message_whose_message_id_is_not_ascii(dovecot, imap_user, tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    odd = corpus_message("027").replace(b"Message-ID: <", "Message-ID: <übung€.".encode(), 1)
    client.append("INBOX", odd)
    client.append("INBOX", corpus_message("027"))  # the same Message-ID but for the 8-bit stretch: not to be moved
    cfg = write_config(tmp_path, dovecot, imap_user, replies="once_per_inviter_days = 0")
    assert main(["once", "--config", str(cfg)]) == 0
    new = tmp_path / "new.toml"
    new.write_text(cfg.read_text().replace("[policy]\n", '[policy]\ncollectors = "decline"\n'))
    capsys.readouterr()
    assert main(["replay", "--config", str(new), "--apply"]) == 0, capsys.readouterr().err
    assert main(["replay", "--config", str(new), "--apply"]) == 0  # and nothing is left to finish
    assert "none of 2 changed" in capsys.readouterr().out  # --apply reports what it changed
    from tests.conftest import folder_messages
    declined = [m["raw"] for m in folder_messages(client, "Invitations/Declined").values()]
    assert sorted(b"\xc3\xbcbung" in raw for raw in declined) == [False, True]
    assert folder_messages(client, "Invitations/Screening") == {}
    client.logout()


def test_a_lost_ledger_is_rebuilt_from_drafts_and_sent_and_nobody_is_answered_twice(dovecot, imap_user, tmp_path,
                                                                                    monkeypatch, capsys):
    import email
    from collections import Counter
    from email.policy import default

    from tests.conftest import folder_messages
    from tests.test_imap_once import MESSAGES
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in MESSAGES:
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    drafts = folder_messages(client, "Drafts")
    assert len(drafts) == 3

    def parent(raw: bytes) -> str:
        return email.message_from_bytes(raw, policy=default)["In-Reply-To"]
    # the owner sends the reply to the pitch (022) from a mail client, which gives it a Message-ID of its own
    pitch_id = email.message_from_bytes(corpus_message("022"), policy=default)["Message-ID"]
    (uid, sent), = [(u, d["raw"]) for u, d in drafts.items() if parent(d["raw"]) == pitch_id]
    if not client.folder_exists("Sent"):
        client.create_folder("Sent")
    client.append("Sent", sent.replace(b"Message-ID: <inboxbot.", b"Message-ID: <client-made.", 1), ["\\Seen"])
    client.select_folder("Drafts")
    client.delete_messages([uid])
    client.expunge()
    for leftover in tmp_path.glob("state.sqlite3*"):
        leftover.unlink()  # the ledger is lost
    olivia_id = email.message_from_bytes(corpus_message("027"), policy=default)["Message-ID"]
    client.multiappend("INBOX", [
        corpus_message("027"),  # a copy of an answered notification (drafted for)
        corpus_message("022"),  # a copy of an answered one the owner sent the reply to
        corpus_message("027").replace(b"Message-ID: <", b"Message-ID: <later.", 1),  # the same inviter again
        corpus_message("028"),  # somebody new: answered, or this test could not fail
    ])
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "read back from Drafts and Sent: 3 invitation(s) answered before, 3 of them with their inviter" in err
    answered = Counter(parent(d["raw"]) for d in folder_messages(client, "Drafts").values())
    newcomer = email.message_from_bytes(corpus_message("028"), policy=default)["Message-ID"]
    assert answered[olivia_id] == 1 and answered[pitch_id] == 0 and answered[newcomer] == 1
    assert sum(answered.values()) == 3  # Olivia's and Elena's old drafts, the newcomer's new one
    assert main(["once", "--config", str(cfg)]) == 0  # and the rebuild is done once
    assert "read back" not in capsys.readouterr().err
    client.logout()
