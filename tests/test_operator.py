"""An operator's first week: what `once` reports and checks, as the command line shows it."""
from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import corpus_message
from tests.test_faults import _with_message_id


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
