"""The maildir account type: the same behaviour as IMAP, on a local Maildir++ tree."""
from __future__ import annotations

import email
import mailbox
from email.policy import default
from pathlib import Path

import pytest

from inboxbot.cli import main
from tests.conftest import CORPUS, corpus_message

MESSAGES = ["003", "027", "022", "011", "064", "058", "023"]


@pytest.fixture
def maildir(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    for name in MESSAGES:
        box.add(mailbox.MaildirMessage(corpus_message(name)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[account]
type = "maildir"
path = "{root}"
[owner]
name = "Robin Castellano"
email = "robin.castellano@example.net"
[policy]
contacts = ["{CORPUS / 'contacts.vcf'}", "{CORPUS / 'Connections.csv'}"]
block = ["deals@fastgrowth.example"]
[security]
trusted_authserv_ids = ["mx.corpus.test"]
[state]
database = "{tmp_path / 'state.sqlite3'}"
[replies]
max_age_days = 0
""")
    return root, cfg


def folder(root: Path, name: str) -> list[mailbox.MaildirMessage]:
    path = root if name == "INBOX" else root / ("." + name.replace("/", "."))
    if not path.exists():
        return []
    return list(mailbox.Maildir(str(path), create=False))


def test_once_files_into_maildir_folders(maildir, capsys):
    root, cfg = maildir
    assert main(["once", "--config", str(cfg)]) == 0
    assert "7 new · 1 accept · 1 ask · 2 feedback · 1 decline · 1 quarantine · 1 ignore" in capsys.readouterr().out
    assert len(folder(root, "INBOX")) == 1
    (accepted,) = folder(root, "Invitations/Accept")
    assert "F" in accepted.get_flags() and "S" not in accepted.get_flags()
    (declined,) = folder(root, "Invitations/Declined")
    assert "S" in declined.get_flags()
    (forged,) = folder(root, "Invitations/Suspicious")
    assert "S" not in forged.get_flags()
    drafts = folder(root, "Drafts")
    assert len(drafts) == 3 and all("D" in d.get_flags() for d in drafts)
    subjects = sorted(email.message_from_bytes(d.as_bytes(), policy=default)["Subject"] for d in drafts)
    assert subjects[0].startswith("About your invitation")


def test_old_invitations_are_filed_but_not_answered(maildir, capsys):
    """replies.max_age_days (default 30): the corpus is years old, so nothing is drafted; everything is filed."""
    root, cfg = maildir
    cfg.write_text(cfg.read_text().replace("max_age_days = 0\n", ""))
    assert main(["once", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "7 new · 1 accept · 1 ask · 2 feedback · 1 decline · 1 quarantine · 1 ignore · " \
           "3 left unanswered for age" in out
    assert folder(root, "Drafts") == [] and len(folder(root, "Invitations/Screening")) == 3


def test_second_pass_and_dry_run(maildir, capsys):
    root, cfg = maildir
    assert main(["once", "--dry-run", "--config", str(cfg)]) == 0
    assert "dry run" in capsys.readouterr().out
    assert len(folder(root, "INBOX")) == 7 and folder(root, "Drafts") == []
    assert main(["once", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip().endswith("nothing new")
    assert len(folder(root, "Drafts")) == 3


def test_not_a_maildir_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{tmp_path / "nothing"}"\n[replies]\nmode = "off"\n'
                   f'[state]\ndatabase = "{tmp_path / "s.db"}"\n')
    assert main(["once", "--config", str(cfg)]) == 2
    assert "is not a Maildir" in capsys.readouterr().err


def test_sent_folder_index_on_maildir(tmp_path, capsys):
    root = tmp_path / "Maildir"
    inbox = mailbox.Maildir(str(root), create=True)
    sent = mailbox.Maildir(str(root / ".Sent"), create=True)
    sent.add(mailbox.MaildirMessage(b"To: Olivia Brandt <olivia.b@example.com>\nSubject: hi\n\nHello\n"))
    inbox.add(mailbox.MaildirMessage(corpus_message("027")))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{root}"\n[replies]\nmode = "off"\n'
                   f'[security]\ntrusted_authserv_ids = ["mx.corpus.test"]\n'
                   f'[state]\ndatabase = "{tmp_path / "s.sqlite3"}"\n')
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 accept" in capsys.readouterr().out
    sent.add(mailbox.MaildirMessage(b"Cc: arjun@example.org\nSubject: hi\n\nHello\n"))
    inbox.add(mailbox.MaildirMessage(corpus_message("028")))
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 ask" in capsys.readouterr().out  # an address alone does not match a name-only invitation
    import sqlite3
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM seen_keys WHERE folder='sent:Sent'").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM sent_contacts").fetchone()[0] == 2
