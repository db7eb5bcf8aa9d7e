"""Secrets, TLS, the state database, forgeries and hostile input through the whole parse -> screen -> compose path."""
from __future__ import annotations

import email
import json
import os
import sqlite3
from dataclasses import replace
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from inboxbot import config, parse
from inboxbot.cli import main, make_composer
from inboxbot.errors import StateError
from inboxbot.policy.chain import build_chain
from inboxbot.store import SCHEMA_VERSION, Ledger
from tests.conftest import CORPUS, PASSWORD, corpus_message, folder_messages
from tests.test_imap_once import write_config
from tests.test_parse_robustness import SAMPLES, mangled


def _tls_config(tmp_path: Path, server, user: str, ca: bool) -> Path:
    cfg = write_config(tmp_path, server, user)
    text = cfg.read_text().replace(f"port = {server.port}", f"port = {server.tls_port}")
    text = text.replace('security = "none"', 'security = "tls"')
    if ca:
        text = text.replace("[owner]", f'tls_ca_file = "{server.directory / "ca.pem"}"\n[owner]')
    cfg.write_text(text)
    return cfg


def test_tls_is_verified_and_a_private_ca_can_be_trusted(tls_dovecot, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    user = tls_dovecot.add_user()
    client = tls_dovecot.client(user)
    client.append("INBOX", corpus_message("027"))
    assert main(["once", "--config", str(_tls_config(tmp_path, tls_dovecot, user, ca=False))]) == 2
    err = capsys.readouterr().err
    assert "TLS handshake" in err and "CERTIFICATE_VERIFY_FAILED" in err.upper().replace(" ", "_")
    assert main(["once", "--config", str(_tls_config(tmp_path, tls_dovecot, user, ca=True))]) == 0
    assert "1 new · 1 ask" in capsys.readouterr().out
    client.logout()


def test_secrets_never_show(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    """Passwords and tokens appear in no log line, ledger, error message or status output, even with --debug."""
    secret = "Sup3r-S3cret-Passw0rd"
    cfg = write_config(tmp_path, dovecot, imap_user)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    monkeypatch.setenv("INBOXBOT_PASSWORD", secret)  # wrong: the login fails and everything is reported
    outputs = []
    for args in (["once"], ["--debug", "once"], ["--log-format", "json", "once"], ["status", "--json"],
                 ["status"], ["check-config"]):
        main([*args, "--config", str(cfg)])
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    for args in (["--debug", "--log-format", "json", "once"], ["status", "--json"]):
        main([*args, "--config", str(cfg)])
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
    ledger = (tmp_path / "state.sqlite3").read_bytes()
    for text in outputs:
        assert secret not in text and PASSWORD not in text
    assert secret.encode() not in ledger and PASSWORD.encode() not in ledger
    client.logout()


def test_a_config_readable_by_others_that_runs_a_password_command_gets_a_warning(tmp_path, caplog):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[account]\nhost = "127.0.0.1"\nusername = "u"\npassword_command = "pass show imap"\n'
                   '[replies]\nmode = "off"\n')
    os.chmod(cfg, 0o644)
    config.load(cfg)
    assert "can be read or changed by other users" in caplog.text
    caplog.clear()
    os.chmod(cfg, 0o600)
    config.load(cfg)
    assert "other users" not in caplog.text


def test_a_damaged_state_database_is_a_clear_error_and_is_not_written(tmp_path, capsys):
    db = tmp_path / "state.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    with pytest.raises(StateError, match="cannot be used"):
        Ledger(db)
    assert db.read_bytes() == before
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{tmp_path}"\n[replies]\nmode = "off"\n'
                   f'[state]\ndatabase = "{db}"\n')
    (tmp_path / "cur").mkdir()
    (tmp_path / "new").mkdir()
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "state database" in err and "move a damaged file aside" in err and "Traceback" not in err
    assert db.read_bytes() == before


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    db = tmp_path / "state.sqlite3"
    Ledger(db).close()
    raw = sqlite3.connect(db)
    raw.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    raw.commit()
    raw.close()
    with pytest.raises(StateError, match="newer inboxbot"):
        Ledger(db)


def test_every_earlier_schema_migrates(tmp_path):
    """Schema versions before this one: 0 (a database without tables; an empty file is refused as damaged)."""
    db = tmp_path / "state.sqlite3"
    raw = sqlite3.connect(db)
    raw.executescript("CREATE TABLE t (x); DROP TABLE t;")  # version 0: no tables at all
    raw.close()
    ledger = Ledger(db)
    assert next(ledger.rows("SELECT value FROM meta WHERE key='schema_version'"))[0] == str(SCHEMA_VERSION)
    ledger.close()


def test_forgeries_are_quarantined_unread_and_never_answered(dovecot, imap_user, tmp_path, monkeypatch):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    labels = [json.loads(line) for line in (CORPUS / "labels.jsonl").read_text().splitlines()]
    forged = [lab["source"] for lab in labels if lab["decision"] == "quarantine"]
    client = dovecot.client(imap_user)
    client.multiappend("INBOX", [(CORPUS / source).read_bytes() for source in forged])
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    suspicious = folder_messages(client, "Invitations/Suspicious")
    assert len(suspicious) == len(forged) == 14
    assert not any("\\Seen" in m["flags"] for m in suspicious.values())
    assert folder_messages(client, "Drafts") == {} and folder_messages(client, "INBOX") == {}
    client.logout()


@pytest.fixture(scope="module")
def pipeline():
    settings = config.load(CORPUS / "config.toml", need_account=False)
    return build_chain(settings), make_composer(settings)


ALLOWED_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version",
                   "Content-Type", "Content-Transfer-Encoding"}  # nothing machine-only: a draft may leave as it is


def _check_draft(chain, composer, raw: bytes) -> None:
    inv = parse.parse(raw)
    verdict = chain.screen(inv)
    if verdict.template is None:
        return
    draft = composer.compose(inv, verdict)
    msg = email.message_from_bytes(draft.raw, policy=compat32)
    assert set(msg.keys()) <= ALLOWED_HEADERS and len(msg.keys()) == len(set(msg.keys()))
    recipients = email.utils.getaddresses(msg.get_all("To"))
    assert [addr for _, addr in recipients] == [draft.to_address]
    assert draft.to_address in (inv.inviter.email, "robin.castellano@example.net")
    assert msg["Bcc"] is None and msg["Cc"] is None


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(mangled())
def test_mangled_messages_never_yield_an_unexpected_draft(pipeline, raw):
    _check_draft(*pipeline, raw)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=60), note=st.text(max_size=300))
def test_hostile_names_and_notes_stay_data(pipeline, name, note):
    """Whatever a name or note holds (CR/LF, encoded words, template syntax, HTML), the draft's headers are ours."""
    chain, composer = pipeline
    inv = replace(parse.parse(SAMPLES[12]), note=note or None)
    inv = replace(inv, inviter=replace(inv.inviter, name=name, email=f"{name}@example.org"))
    verdict = chain.screen(inv)
    if verdict.template is None:
        return
    draft = composer.compose(inv, verdict)
    msg = email.message_from_bytes(draft.raw, policy=compat32)
    assert set(msg.keys()) <= ALLOWED_HEADERS
    assert [addr for _, addr in email.utils.getaddresses(msg.get_all("To"))] == [draft.to_address]


@pytest.mark.parametrize("payload", [
    b"=?UTF-8?B?" + __import__("base64").b64encode(b"Eve\r\nBcc: all@evil.example") + b"?=",
    b"{{ config }} {% raw %}x{% endraw %}",
    b"<script>alert(1)</script>",
])
def test_injection_in_the_from_name_never_becomes_a_header(pipeline, payload):
    raw = corpus_message("023").replace(b"From: Elena Marsh via LinkedIn", b"From: " + payload + b" via LinkedIn", 1)
    raw = raw.replace(b"Reply-To: Elena Marsh", b"Reply-To: " + payload, 1)
    _check_draft(*pipeline, raw)


def test_a_50_mb_message_is_read_without_trouble():
    head = corpus_message("027").split(b"\n\n", 1)[0]
    head = b"\n".join(line for line in head.split(b"\n") if not line.lower().startswith(b"content-type"))
    body = (b"--b\nContent-Type: text/plain\n\nHi Robin,\n\nI'd like to join your LinkedIn network.\n\n"
            b"Olivia Brandt\nOps\n\nView profile: https://www.linkedin.com/comm/in/ob\n--b\n"
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            + b"QUFBQUFB\n" * (50 * 1024 * 1024 // 9) + b"--b--\n")
    inv = parse.parse(head + b"\nContent-Type: multipart/mixed; boundary=b\n\n" + body)
    assert inv.error is None and inv.inviter.name == "Olivia Brandt" and inv.note is None


def test_the_permission_warning_needs_a_command_actually_set(tmp_path, caplog):
    from pathlib import Path
    example = (Path(__file__).parent.parent / "config.example.toml").read_text()
    assert "password_command" in example  # the word is there, in a comment and as an empty value
    cfg = tmp_path / "c.toml"
    cfg.write_text(example)
    os.chmod(cfg, 0o644)
    try:
        config.load(cfg)
    except config.ConfigError:
        pass  # the example's placeholders need not validate: the warning comes first or not at all
    assert "other users" not in caplog.text
    cfg.write_text('# password_command = "pass show imap"\n[[accounts]]\nhost = "h"\nusername = "u"\n'
                   'password_command = ""\n[smtp]\npassword_command = "  "\n[replies]\nmode = "off"\n')
    config.load(cfg)
    assert "other users" not in caplog.text
    cfg.write_text('[[accounts]]\nhost = "h"\nusername = "u"\ntoken_command = "oauth2 token"\n'
                   '[replies]\nmode = "off"\n')
    config.load(cfg)
    assert "can be read or changed by other users" in caplog.text
