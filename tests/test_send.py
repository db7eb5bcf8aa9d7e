"""replies.mode = "send": a real SMTP server in-process (aiosmtpd) records exactly what was delivered."""
from __future__ import annotations

import email
from email.policy import default

import pytest
from aiosmtpd.controller import Controller

from inboxbot.cli import main
from tests.conftest import PASSWORD, corpus_message, folder_messages
from tests.dovecot import free_port
from tests.test_imap_once import write_config


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, recorder
    controller.stop()


@pytest.fixture
def send_config(dovecot, imap_user, tmp_path, monkeypatch, smtp):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    controller, _ = smtp

    def make(**replies: object):
        body = ['mode = "send"'] + [f"{k} = {v}" for k, v in replies.items()]
        return write_config(tmp_path, dovecot, imap_user, replies="\n".join(body),
                            smtp=f'host = "127.0.0.1"\nport = {controller.port}\nsecurity = "none"')
    client = dovecot.client(imap_user)
    yield client, make
    client.logout()


def test_sends_only_to_an_inviters_own_address_and_only_once(send_config, smtp, capsys):
    client, make = send_config
    _, recorder = smtp
    client.append("INBOX", corpus_message("023"))  # 2011: Reply-To is Elena's own address
    client.append("INBOX", corpus_message("027"))  # 2020s: reachable only in LinkedIn -> draft
    cfg = make()
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 sent" in capsys.readouterr().out
    assert len(recorder.delivered) == 1
    mail_from, rcpts, raw = recorder.delivered[0]
    assert (mail_from, rcpts) == ("robin.castellano@example.net", ["elena@lumenbrand.example"])
    sent = email.message_from_bytes(raw, policy=default)
    # sent by inboxbot itself: an automatic reply (RFC 3834 section 5), in what left and in the Sent copy
    assert sent["Subject"].startswith("About your invitation") and sent["Auto-Submitted"] == "auto-replied"
    (copy,) = folder_messages(client, "Sent").values()
    assert email.message_from_bytes(copy["raw"])["Auto-Submitted"] == "auto-replied"
    drafts = folder_messages(client, "Drafts")
    assert len(drafts) == 1 and b"Olivia" in next(iter(drafts.values()))["raw"]
    assert email.message_from_bytes(next(iter(drafts.values()))["raw"])["Auto-Submitted"] is None  # the owner's
    assert main(["once", "--config", str(cfg)]) == 0
    assert len(recorder.delivered) == 1


def test_caps_and_rfc3834(send_config, smtp, capsys):
    client, make = send_config
    _, recorder = smtp
    client.append("INBOX", corpus_message("023"))
    client.append("INBOX", corpus_message("094"))  # another 2011 invitation with a Reply-To
    bulk = corpus_message("083").replace(b"\nSubject:", b"\nPrecedence: bulk\nSubject:", 1)
    client.append("INBOX", bulk)
    assert main(["once", "--dry-run", "--config", str(make(max_per_day=1))]) == 0
    out = capsys.readouterr().out
    assert "replies.max_per_day (1) reached" in out and "drafted, not sent: Precedence: bulk" in out
    assert main(["once", "--config", str(make(max_per_day=1))]) == 0
    assert len(recorder.delivered) == 1
    assert len(folder_messages(client, "Drafts")) == 2


def test_a_failing_smtp_server_leaves_a_draft(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("023"))
    cfg = write_config(tmp_path, dovecot, imap_user, replies='mode = "send"',
                       smtp='host = "127.0.0.1"\nport = 1\nsecurity = "none"')
    assert main(["once", "--config", str(cfg)]) == 0
    assert "cannot connect to the SMTP server 127.0.0.1:1" in capsys.readouterr().err
    assert len(folder_messages(client, "Drafts")) == 1
    assert len(folder_messages(client, "Invitations/Screening")) == 1
    client.logout()


def test_a_crash_while_sending_never_sends_twice(send_config, smtp, monkeypatch, capsys):
    client, make = send_config
    _, recorder = smtp
    client.append("INBOX", corpus_message("023"))
    cfg = make()
    from inboxbot.smtp import SmtpSender
    real_send = SmtpSender.send

    def send_then_die(self, raw, sender, recipient):
        real_send(self, raw, sender, recipient)
        raise KeyboardInterrupt  # the process dies after the server took the mail, before the ledger knew
    monkeypatch.setattr(SmtpSender, "send", send_then_die)
    assert main(["once", "--config", str(cfg)]) == 130
    monkeypatch.setattr(SmtpSender, "send", real_send)
    assert main(["once", "--config", str(cfg)]) == 0
    assert "may or may not have gone out" in capsys.readouterr().err
    assert len(recorder.delivered) == 1
    assert len(folder_messages(client, "Drafts")) == 1  # the user decides; the bot never sends it again


def test_send_mode_needs_an_smtp_host(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[account]\ntype = "maildir"\n[owner]\nemail = "me@example.com"\n[replies]\nmode = "send"\n')
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert 'smtp.host: is required when replies.mode is "send"' in capsys.readouterr().err


def test_two_crashes_in_a_row_still_never_send_twice(send_config, smtp, monkeypatch):
    client, make = send_config
    _, recorder = smtp
    client.append("INBOX", corpus_message("023"))
    cfg = make()
    from inboxbot.mail.imap import ImapMailbox
    from inboxbot.smtp import SmtpSender
    real_send, real_append = SmtpSender.send, ImapMailbox.append

    def send_then_die(self, raw, sender, recipient):
        real_send(self, raw, sender, recipient)
        raise KeyboardInterrupt

    def append_then_die(self, folder, raw, flags):
        real_append(self, folder, raw, flags)
        raise KeyboardInterrupt
    monkeypatch.setattr(SmtpSender, "send", send_then_die)
    assert main(["once", "--config", str(cfg)]) == 130
    monkeypatch.setattr(SmtpSender, "send", real_send)
    monkeypatch.setattr(ImapMailbox, "append", append_then_die)  # dies again, while saving the fallback draft
    assert main(["once", "--config", str(cfg)]) == 130
    monkeypatch.setattr(ImapMailbox, "append", real_append)
    assert main(["once", "--config", str(cfg)]) == 0
    assert len(recorder.delivered) == 1
    assert len(folder_messages(client, "Drafts")) == 1


def test_quiet_hours_draft_instead_of_sending(send_config, smtp, capsys):
    client, make = send_config
    _, recorder = smtp
    client.append("INBOX", corpus_message("023"))
    cfg = make()
    import time
    now = time.localtime()
    start, end = (now.tm_hour + 23) % 24, (now.tm_hour + 1) % 24  # an hour either side of now, maybe past midnight
    cfg.write_text(cfg.read_text() + f'[schedule]\nquiet_hours = "{start:02d}:00-{end:02d}:59"\n')
    assert main(["once", "--dry-run", "--config", str(cfg)]) == 0
    assert "drafted, not sent: quiet hours" in capsys.readouterr().out
    assert main(["once", "--config", str(cfg)]) == 0
    assert recorder.delivered == [] and len(folder_messages(client, "Drafts")) == 1
