"""An operator's first week: what `once` reports and checks, as the command line shows it."""
from __future__ import annotations

import mailbox
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import PASSWORD, corpus_message, folder_messages
from tests.test_faults import _with_message_id
from tests.test_imap_once import write_config


def run(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inboxbot", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def maildir_setup(tmp_path: Path, *names: str, extra: str = "") -> tuple[mailbox.Maildir, Path]:
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    for name in names:
        box.add(mailbox.MaildirMessage(corpus_message(name)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{root}"\n[owner]\nname = "Robin Castellano"\n'
                   f'email = "robin.castellano@example.net"\n[state]\ndatabase = "{tmp_path / "state.sqlite3"}"\n'
                   + extra)
    return box, cfg


def test_a_repeat_invitation_held_back_is_reported_as_such(tmp_path):
    box, cfg = maildir_setup(tmp_path, "036")
    first = run("once", "--config", str(cfg))
    assert first.returncode == 0, first.stderr
    assert "1 new · 1 ask" in first.stdout and "confirm_meeting" in first.stdout
    box.add(mailbox.MaildirMessage(_with_message_id(corpus_message("036"), "<again.036@test>")))
    dry = run("once", "--dry-run", "--config", str(cfg))
    assert "1 new · 1 held back (dry run" in dry.stdout
    assert "held back: no draft, another invitation from an inviter who got one on 20" in dry.stdout
    assert "replies.once_per_inviter_days = 90" in dry.stdout
    second = run("once", "--config", str(cfg))
    assert second.returncode == 0, second.stderr
    assert "1 new · 1 held back" in second.stdout and " ask " not in second.stdout
    assert "confirm_meeting" not in second.stdout
    assert len(box.get_folder("Drafts")) == 1  # no second draft
    assert len(box.get_folder("Invitations.Screening")) == 2  # filed like an ask


def test_a_dry_run_checks_what_the_real_run_needs_and_leaves_no_file(dovecot, imap_user, tmp_path):
    client = dovecot.client(imap_user)
    for name in ("027", "036"):
        client.append("INBOX", corpus_message(name))
    folders_before = sorted(name for _, _, name in client.list_folders())
    cfg = write_config(tmp_path, dovecot, imap_user, folders='drafts = "MyDrafts"')
    state = tmp_path / "state"
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "state.sqlite3"), str(state / "s.sqlite3")))
    env = {"INBOXBOT_PASSWORD": PASSWORD}
    for args in (("once", "--dry-run"), ("once",)):
        done = run(*args, "--config", str(cfg), env=env)
        assert done.returncode == 2, done.stdout
        assert ("folders.drafts names the folder 'MyDrafts', which does not exist on 127.0.0.1; its folders are: "
                "Drafts, INBOX, Sent, Trash") in done.stderr
        assert "Set folders.drafts to one of them" in done.stderr and "Traceback" not in done.stderr
        assert sorted(name for _, _, name in client.list_folders()) == folders_before  # nothing created
        assert len(folder_messages(client, "INBOX")) == 2
    db = sqlite3.connect(state / "s.sqlite3")  # the real run failed before recording any message (but its failure)
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    assert "MyDrafts" in db.execute("SELECT last_error FROM account_status").fetchone()[0]
    db.close()
    shutil.rmtree(state)
    cfg.write_text(cfg.read_text().replace('drafts = "MyDrafts"', ""))
    dry = run("once", "--dry-run", "--config", str(cfg), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "2 new · 2 ask (dry run: nothing changed)" in dry.stdout
    assert not state.exists()  # no file, not even an empty ledger (nor its folder)
    client.logout()
