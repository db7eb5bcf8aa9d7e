"""`inboxbot once` against a real Dovecot: what ends up in which folder, with which flags, and what the drafts say."""
from __future__ import annotations

import email
import sqlite3
from email.policy import default
from pathlib import Path

import pytest

from inboxbot.cli import main
from tests.conftest import CORPUS, PASSWORD, corpus_message, folder_messages

# one message per outcome: known (accept), collector (ask), pitch (feedback), blocked (decline),
# forged (quarantine), newsletter (ignore), a 2011 invitation with the inviter's own Reply-To (draft to them)
MESSAGES = ["003", "027", "022", "011", "064", "058", "023"]


def write_config(tmp_path: Path, dovecot, user: str, **extra: str) -> Path:
    cfg = tmp_path / "config.toml"
    lines = [
        "[account]", 'type = "imap"', 'host = "127.0.0.1"', f"port = {dovecot.port}", 'security = "none"',
        f'username = "{user}"', "[owner]", 'name = "Robin Castellano"', 'email = "robin.castellano@example.net"',
        "[policy]", f'contacts = ["{CORPUS / "contacts.vcf"}", "{CORPUS / "Connections.csv"}"]',
        'block = ["Gerald Plunkett", "deals@fastgrowth.example", "@leadmagnet.example"]',
        "[security]", 'trusted_authserv_ids = ["mx.corpus.test"]',
        "[state]", f'database = "{tmp_path / "state.sqlite3"}"',
    ]
    # the corpus is years old: these tests are about filing and replying, not about replies.max_age_days
    extra = {"replies": "", **extra}
    extra["replies"] = "max_age_days = 0\n" + extra["replies"]
    for section, body in extra.items():
        lines += [f"[{section}]", body]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@pytest.fixture
def loaded(dovecot, imap_user, tmp_path, monkeypatch):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in MESSAGES:
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user)
    yield client, cfg
    client.logout()


def _subjects(folder: dict) -> list[str]:
    return sorted(email.message_from_bytes(m["raw"], policy=default)["Subject"] for m in folder.values())


def test_once_files_flags_and_drafts(loaded, capsys):
    client, cfg = loaded
    assert main(["once", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "7 new · 1 accept · 1 ask · 2 feedback · 1 decline · 1 quarantine · 1 ignore" in out

    inbox = folder_messages(client, "INBOX")
    assert len(inbox) == 1  # only the newsletter stays, untouched and unread
    (newsletter,) = inbox.values()
    assert b"top stories" in newsletter["raw"]
    assert "\\Seen" not in newsletter["flags"] and "$InboxbotScreened" not in newsletter["flags"]

    accept = folder_messages(client, "Invitations/Accept")
    assert len(accept) == 1
    (known,) = accept.values()
    assert {"\\Flagged", "$InboxbotScreened"} <= known["flags"] and "\\Seen" not in known["flags"]

    declined = folder_messages(client, "Invitations/Declined")
    assert [("\\Seen" in m["flags"]) for m in declined.values()] == [True]
    suspicious = folder_messages(client, "Invitations/Suspicious")
    assert len(suspicious) == 1 and "\\Seen" not in next(iter(suspicious.values()))["flags"]
    assert len(folder_messages(client, "Invitations/Screening")) == 3

    drafts = folder_messages(client, "Drafts")
    assert len(drafts) == 3
    parsed = [email.message_from_bytes(d["raw"], policy=default) for d in drafts.values()]
    assert all("\\Draft" in d["flags"] for d in drafts.values())
    assert not [h for m in parsed for h in m.keys() if h.lower().startswith("x-inboxbot")]  # nothing machine-only
    db = sqlite3.connect(cfg.parent / "state.sqlite3")  # the decision lives in the ledger
    decided = dict(db.execute("SELECT draft_message_id, decision || '; template=' || template FROM messages "
                              "WHERE draft_message_id IS NOT NULL").fetchall())
    decision_of = {m["Message-ID"]: decided[m["Message-ID"]] for m in parsed}
    assert sorted(decision_of.values()) == ["ask; template=where_did_we_meet", "feedback; template=feedback",
                                            "feedback; template=feedback"]
    # 2011 mail carries the inviter's own Reply-To: that draft goes to her, without the paste-in preface
    (to_elena,) = [m for m in parsed if m["To"].addresses[0].addr_spec == "elena@lumenbrand.example"]
    assert str(to_elena["To"]) == "Elena Marsh <elena@lumenbrand.example>"
    assert to_elena.get_content().startswith("Hi Elena,") and "[inboxbot]" not in to_elena.get_content()
    for m in parsed:
        assert m["In-Reply-To"] and m["In-Reply-To"] == m["References"]
        assert m["Auto-Submitted"] is None
        assert m["From"].addresses[0].addr_spec == "robin.castellano@example.net"
    collector = next(m for m in parsed if "where_did_we_meet" in decision_of[m["Message-ID"]])
    body = collector.get_content()
    assert "Hi Olivia," in body and "where did we meet?" in body
    assert collector["Subject"] == "Reply to Olivia Brandt (LinkedIn): Where did we meet?"
    assert str(collector["To"]) == "Robin Castellano <robin.castellano@example.net>"
    assert "https://www.linkedin.com/in/olivia-brandt-ops" in body  # ready to paste, with the profile link


def test_second_pass_does_nothing(loaded, capsys):
    client, cfg = loaded
    assert main(["once", "--config", str(cfg)]) == 0
    capsys.readouterr()
    before = {f: len(folder_messages(client, f)) for f in ("INBOX", "Drafts", "Invitations/Screening")}
    assert main(["once", "--config", str(cfg)]) == 0
    assert "nothing new" in capsys.readouterr().out
    after = {f: len(folder_messages(client, f)) for f in before}
    assert after == before


def test_dry_run_changes_nothing(loaded, tmp_path, capsys):
    client, cfg = loaded
    assert main(["once", "--dry-run", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing changed" in out and "draft to Robin Castellano" in out and "move to " in out
    assert len(folder_messages(client, "INBOX")) == len(MESSAGES)
    assert folder_messages(client, "Drafts") == {}
    assert not any("Invitations" in name for _, _, name in client.list_folders())
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    # and the real run then does exactly what the dry run announced
    assert main(["once", "--config", str(cfg)]) == 0
    assert "7 new · 1 accept · 1 ask · 2 feedback · 1 decline · 1 quarantine · 1 ignore" in capsys.readouterr().out


def test_restored_copy_is_not_answered_twice(loaded, capsys):
    """A message the user copies back into the inbox (new UID, no keyword) is recognised by its Message-ID."""
    client, cfg = loaded
    assert main(["once", "--config", str(cfg)]) == 0
    client.append("INBOX", corpus_message("027"))
    assert main(["once", "--config", str(cfg)]) == 0
    assert "nothing new" in capsys.readouterr().out.splitlines()[-1]
    assert len(folder_messages(client, "Drafts")) == 3


def test_a_copy_in_the_same_backlog_is_not_answered_twice(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    """The ledger learns of a decision only when its batch is written: the pass itself remembers what it decided."""
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("022"))
    client.append("INBOX", corpus_message("022"))
    cfg = write_config(tmp_path, dovecot, imap_user, replies="once_per_inviter_days = 0")
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 feedback" in capsys.readouterr().out
    assert len(folder_messages(client, "Drafts")) == 1
    assert len(folder_messages(client, "INBOX")) == 1  # the copy stays where it is, as one found in a later pass


def test_an_inviter_met_twice_in_one_backlog_gets_one_draft(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    first = corpus_message("027")
    client.append("INBOX", first)
    client.append("INBOX", first.replace(b"Message-ID: <", b"Message-ID: <resent."))  # the same invitation again
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    assert "2 new · 2 ask" in capsys.readouterr().out
    assert len(folder_messages(client, "Drafts")) == 1
    assert len(folder_messages(client, "Invitations/Screening")) == 2
    drafts = sqlite3.connect(tmp_path / "state.sqlite3").execute(
        "SELECT draft_message_id FROM messages ORDER BY CAST(uid AS INTEGER)").fetchall()
    assert drafts[0][0] is not None and drafts[1][0] is None


def test_moved_back_message_keeps_its_keyword_and_is_skipped(loaded, capsys):
    client, cfg = loaded
    assert main(["once", "--config", str(cfg)]) == 0
    client.select_folder("Invitations/Screening")
    client.move(client.search(["ALL"])[:1], "INBOX")
    assert main(["once", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("nothing new")
    assert len(folder_messages(client, "Drafts")) == 3


def test_wrong_password_is_one_clear_sentence(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", "not-the-password")
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"rejected the login for {imap_user}" in err and "Traceback" not in err
    assert "not-the-password" not in err


def test_unreachable_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", "x")

    class Closed:
        port = 1  # nothing listens on port 1 of loopback
    cfg = write_config(tmp_path, Closed, "nobody")
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to 127.0.0.1:1" in err and "Traceback" not in err


def test_uidvalidity_reset_answers_nobody_twice(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    import time
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in ("058", "027"):
        client.append("INBOX", corpus_message(name))
    client.select_folder("INBOX")
    validity = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    client.logout()
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    capsys.readouterr()
    # make Dovecot forget the INBOX's UIDs: it assigns new ones under a new UIDVALIDITY
    maildir = dovecot.directory / "mail" / imap_user / "Maildir"
    time.sleep(1.1)
    for path in maildir.glob("dovecot*"):
        if path.is_file():
            path.unlink()
    client = dovecot.client(imap_user)
    assert client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"] != validity
    assert main(["once", "--config", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("nothing new")
    assert "UIDVALIDITY of INBOX changed" in captured.err
    assert len(folder_messages(client, "Drafts")) == 1 and len(folder_messages(client, "INBOX")) == 1
    client.logout()


def _sent_mail(to: str) -> bytes:
    return (f"From: Robin Castellano <robin.castellano@example.net>\r\nTo: {to}\r\nSubject: hello\r\n"
            f"Message-ID: <{abs(hash(to))}@example.net>\r\n\r\nHi!\r\n").encode()


def test_people_from_the_sent_folder_are_known(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("Sent", _sent_mail("Olivia Brandt <olivia.b@example.com>"))
    client.append("INBOX", corpus_message("027"))  # Olivia Brandt, no note: would be asked where you met
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 accept" in capsys.readouterr().out
    assert len(folder_messages(client, "Invitations/Accept")) == 1
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    assert db.execute("SELECT address, name FROM sent_contacts").fetchall() == [("olivia.b@example.com",
                                                                                "Olivia Brandt")]
    # the index grows with only the new Sent messages
    client.append("Sent", _sent_mail("Arjun Mehta <arjun@example.org>"))
    client.append("INBOX", corpus_message("028"))  # Arjun Mehta
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 accept" in capsys.readouterr().out
    assert db.execute("SELECT COUNT(*) FROM sent_contacts").fetchone()[0] == 2
    (mark,) = db.execute("SELECT last_uid FROM folders WHERE folder='sent:Sent'").fetchone()
    assert mark == 2
    client.logout()


def test_learn_from_sent_can_be_switched_off(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("Sent", _sent_mail("Olivia Brandt <olivia.b@example.com>"))
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace("[policy]\n", "[policy]\nlearn_from_sent = false\n"))
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 ask" in capsys.readouterr().out
    client.logout()


def test_a_crash_between_append_and_filing_leaves_one_draft(loaded, monkeypatch, capsys):
    client, cfg = loaded
    from inboxbot.mail.imap import ImapMailbox
    real_append = ImapMailbox.append

    def append_then_die(self, folder, raw, flags):
        real_append(self, folder, raw, flags)
        raise KeyboardInterrupt  # killed right after the draft reached the server, before the ledger knew
    monkeypatch.setattr(ImapMailbox, "append", append_then_die)
    assert main(["once", "--config", str(cfg)]) == 130
    monkeypatch.setattr(ImapMailbox, "append", real_append)
    assert main(["once", "--config", str(cfg)]) == 0
    assert len(folder_messages(client, "Drafts")) == 3  # one per decision that drafts, none twice
    assert len(folder_messages(client, "Invitations/Screening")) == 3
    assert len(folder_messages(client, "INBOX")) == 1


def test_a_kept_connection_polls_with_one_noop_and_still_sees_new_mail(loaded):
    from inboxbot import config
    from inboxbot.cli import Session, make_composer
    from inboxbot.policy.chain import build_chain
    client, cfg = loaded
    settings = config.load(cfg).accounts[0]
    session = Session(settings, build_chain(settings), make_composer(settings))
    try:
        assert sum(session.run().counts.values()) == len(MESSAGES)
        imap = session.mailbox.client._imap
        sent: list[str] = []
        command = imap._command
        imap._command = lambda name, *args: sent.append(name) or command(name, *args)
        assert sum(session.run().counts.values()) == 0
        assert sent == ["NOOP"]  # the inbox stays open read-only between passes: no STATUS, no SELECT
        client.append("INBOX", corpus_message("028"))
        sent.clear()
        report = session.run()
        assert report.counts["ask"] == 1 and "SELECT" in sent  # noticed, and the inbox opened for writing again
        assert len(folder_messages(client, "Invitations/Screening")) == 4
    finally:
        session.close()


# --- a backlog read ahead on a second connection ---------------------------------------------------------------

FOLDERS = ("INBOX", "Invitations/Accept", "Invitations/Declined", "Invitations/Screening", "Invitations/Suspicious",
           "Drafts")


def _backlog(dovecot, tmp_path: Path, name: str):
    """A fresh mailbox holding the whole corpus, and a config that reads it in batches of 5 (20 batches)."""
    user = dovecot.add_user()
    client = dovecot.client(user)
    for path in sorted((CORPUS / "mail").glob("*.eml")):
        client.append("INBOX", path.read_bytes())
    (tmp_path / name).mkdir()
    return client, write_config(tmp_path / name, dovecot, user, schedule="batch_size = 5")


def _outcome(client) -> dict[str, list[str]]:
    """Folder -> the Message-IDs in it (drafts have deterministic ones), for every folder a pass writes to."""
    names = {name for _, _, name in client.list_folders()}
    return {folder: sorted(email.message_from_bytes(m["raw"])["Message-ID"] or "" for m in
                           folder_messages(client, folder).values()) for folder in FOLDERS if folder in names}


@pytest.fixture
def read_aheads(monkeypatch):
    """The ReadAhead objects made during a test (each one a second connection)."""
    from inboxbot import readahead
    made = []
    real = readahead.ReadAhead.__init__

    def spy(self, *args, **kwargs):
        made.append(self)
        real(self, *args, **kwargs)
    monkeypatch.setattr(readahead.ReadAhead, "__init__", spy)
    return made


def test_a_backlog_read_ahead_on_a_second_connection_ends_as_one_read_alone(dovecot, tmp_path, monkeypatch,
                                                                            read_aheads):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    from inboxbot import worker
    outcomes = {}
    for name, threshold in (("alone", 10 ** 9), ("ahead", 5)):
        monkeypatch.setattr(worker, "READ_AHEAD_FROM", threshold)
        client, cfg = _backlog(dovecot, tmp_path, name)
        assert main(["once", "--config", str(cfg)]) == 0
        outcomes[name] = _outcome(client)
        assert len(read_aheads) == (name == "ahead")
    assert outcomes["ahead"] == outcomes["alone"]
    assert len(outcomes["ahead"]["Drafts"]) > 30 and len(outcomes["ahead"]["Invitations/Screening"]) > 30


def test_a_failing_reading_connection_leaves_the_pass_to_its_own(dovecot, tmp_path, monkeypatch, capsys,
                                                                 read_aheads):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    from inboxbot import worker
    from inboxbot.errors import MailboxError
    from inboxbot.mail.imap import ImapMailbox
    monkeypatch.setattr(worker, "READ_AHEAD_FROM", 10 ** 9)
    alone, cfg = _backlog(dovecot, tmp_path, "alone")
    assert main(["once", "--config", str(cfg)]) == 0
    monkeypatch.setattr(worker, "READ_AHEAD_FROM", 5)
    client, cfg = _backlog(dovecot, tmp_path, "ahead")
    real_fetch, calls = ImapMailbox.fetch, []

    def failing(self, folder, uids):
        calls.append(self.readonly)
        if self.readonly and calls.count(True) == 3:  # the third group of batches read ahead
            raise MailboxError("the connection broke")
        return real_fetch(self, folder, uids)
    monkeypatch.setattr(ImapMailbox, "fetch", failing)
    assert main(["once", "--config", str(cfg)]) == 0
    assert "the reading connection failed (the connection broke); reading on this one" in capsys.readouterr().err
    assert len(read_aheads) == 1 and calls.count(True) == 3 and calls.count(False) > 0
    assert _outcome(client) == _outcome(alone)  # nothing lost, nothing drafted twice
    db = sqlite3.connect(tmp_path / "ahead" / "state.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM messages WHERE state NOT IN ('done', 'error')").fetchone()[0] == 0


def test_a_server_that_refuses_a_second_connection_gets_the_pass_on_one(dovecot, tmp_path, monkeypatch, capsys,
                                                                        read_aheads):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    from inboxbot import worker
    from inboxbot.errors import MailboxError
    from inboxbot.mail.imap import ImapMailbox
    monkeypatch.setattr(worker, "READ_AHEAD_FROM", 5)

    def refused(self):
        raise MailboxError("too many connections")
    monkeypatch.setattr(ImapMailbox, "reader", refused)
    client, cfg = _backlog(dovecot, tmp_path, "refused")
    assert main(["once", "--debug", "--config", str(cfg)]) == 0
    assert "no second connection for reading ahead (too many connections)" in capsys.readouterr().err
    assert not read_aheads and len(_outcome(client)["Drafts"]) > 30
