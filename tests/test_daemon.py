"""`inboxbot run` against a real Dovecot: IDLE, a server restart, SIGTERM mid-pass, several accounts, OAuth2, status."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from inboxbot.cli import main
from tests.conftest import PASSWORD, corpus_message, folder_messages
from tests.test_imap_once import write_config
from tests.tokenserver import TokenEndpoint, serving


def start_run(cfg: Path, env_password: str = PASSWORD) -> subprocess.Popen:
    import os
    env = dict(os.environ, INBOXBOT_PASSWORD=env_password)
    return subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 20.0, step: float = 0.05) -> float:
    """Seconds until predicate() held; fails the test after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def ledger_rows(tmp_path: Path, sql: str) -> list:
    try:  # read-only: connecting must not create the file (inboxbot refuses an empty ledger)
        db = sqlite3.connect(f"file:{tmp_path / 'state.sqlite3'}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return []
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return err


def test_idle_starts_a_pass_for_new_mail(dovecot, imap_user, tmp_path):
    cfg = write_config(tmp_path, dovecot, imap_user, schedule='interval = "1h"')
    proc = start_run(cfg)
    client = dovecot.client(imap_user)
    try:
        wait_for(lambda: ledger_rows(tmp_path, "SELECT last_success FROM account_status WHERE last_success > 0"))
        time.sleep(0.5)  # the IDLE connection is up by now
        client.append("INBOX", corpus_message("027"))
        latency = wait_for(lambda: len(folder_messages(client, "Drafts")) == 1, timeout=10)
        print(f"new mail -> draft with IDLE: {latency:.2f} s")
        assert latency < 2.0
    finally:
        err = stop(proc)
    assert "1 new · 1 ask" in err
    client.logout()


def test_the_daemon_survives_a_server_restart(own_dovecot, tmp_path):
    user = own_dovecot.add_user()
    client = own_dovecot.client(user)
    client.append("INBOX", corpus_message("027"))
    client.logout()
    cfg = write_config(tmp_path, own_dovecot, user, schedule='interval = "1h"\nbackoff_max = "2s"')
    proc = start_run(cfg)
    try:
        wait_for(lambda: ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages WHERE state='done'") == [(1,)])
        own_dovecot.stop()
        own_dovecot.deliver(user, corpus_message("041"))  # arrives while the server is down
        time.sleep(5)
        own_dovecot.start()
        wait_for(lambda: ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages WHERE state='done'") == [(2,)],
                 timeout=30)
    finally:
        err = stop(proc)
    assert "next attempt in" in err or "IDLE stopped" in err
    assert err.count("reconnected") == 1, err  # one line says the server is back
    client = own_dovecot.client(user)
    assert len(folder_messages(client, "Drafts")) == 2  # each invitation answered exactly once
    assert len(folder_messages(client, "INBOX")) == 0
    client.logout()


def test_sigterm_mid_pass_exits_cleanly_and_the_next_run_continues(dovecot, imap_user, tmp_path, monkeypatch):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    names = ["027", "028", "029", "030", "022", "036", "041", "043"]
    rounds = 100
    for i in range(rounds):
        client.multiappend("INBOX", [corpus_message(name).replace(b"Message-ID: <", f"Message-ID: <r{i}.".encode(), 1)
                                     for name in names])
    total = rounds * len(names)
    cfg = write_config(tmp_path, dovecot, imap_user, schedule='interval = "1h"\nbatch_size = 20',
                       replies="once_per_inviter_days = 0")
    proc = start_run(cfg)
    try:
        wait_for(lambda: ledger_rows(tmp_path, "SELECT COUNT(*) FROM passes") == [(1,)], step=0.01)
        time.sleep(0.5)  # well into the pass: deciding the first of several batches
        started = time.monotonic()
        err = stop(proc)
        assert time.monotonic() - started < 10
    finally:
        proc.kill()
    assert "received SIGTERM" in err and "stopping after the message in hand" in err  # it was mid-pass
    unfinished = ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages WHERE state NOT IN ('done', 'error')")
    assert unfinished == [(0,)]
    handled = ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages")[0][0]
    assert handled < total
    assert main(["once", "--config", str(cfg)]) == 0
    assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages WHERE state='done'") == [(total,)]
    assert len(folder_messages(client, "Drafts")) == total
    client.logout()


def test_several_accounts_one_broken(dovecot, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", "nope")
    users = [dovecot.add_user() for _ in range(3)]
    for user, name in zip(users, ("027", "041", "022")):
        c = dovecot.client(user)
        c.append("INBOX", corpus_message(name))
        c.logout()
    accounts = "\n".join(
        f'[[accounts]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\n'
        f'username = "{user}"\n' + extra
        for name, user, extra in (("home", users[0], ""), ("broken", users[1], 'password_env = "WRONG_PASSWORD"\n'),
                                  ("work", users[2], '[accounts.folders]\nscreening = "Bot/Review"\n')))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[owner]\nname = "Robin"\nemail = "robin@example.net"\n[replies]\nmax_age_days = 0\n[state]\n'
                   f'database = "{tmp_path / "state.sqlite3"}"\n' + accounts)
    assert main(["once", "--config", str(cfg)]) == 2
    captured = capsys.readouterr()
    assert "home: 1 new · 1 ask" in captured.out and "work: 1 new · 1 feedback" in captured.out
    assert "broken: failed: 127.0.0.1" in captured.err and "rejected the login" in captured.err
    work = dovecot.client(users[2])
    assert len(folder_messages(work, "Bot/Review")) == 1
    work.logout()
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    statuses = {s["account"]: s for s in json.loads(capsys.readouterr().out)}
    assert statuses["home"]["last_pass"]["decisions"] == {"ask": 1}
    assert statuses["home"]["drafts_today"] == 1 and statuses["broken"]["last_pass"] is None


class _TokenEndpoint(TokenEndpoint):
    requests: list[dict] = []

    def answer(self, form: str) -> tuple[int, dict]:
        fields = {k: v[0] for k, v in parse_qs(form).items()}
        type(self).requests.append(fields)
        if fields.get("refresh_token") == "refresh-123" and fields.get("client_id") == "inboxbot-test":
            return 200, {"access_token": PASSWORD, "expires_in": 3600}
        return 400, {"error": "invalid_grant"}


@pytest.fixture
def token_endpoint():
    _TokenEndpoint.requests = []
    with serving(_TokenEndpoint) as url:
        yield url


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth2_login_with_a_refresh_token(dovecot, imap_user, tmp_path, monkeypatch, capsys, token_endpoint,
                                           mechanism):
    monkeypatch.setenv("INBOXBOT_PASSWORD", "refresh-123")  # with auth = "oauth2" the secret is the refresh token
    monkeypatch.setenv("INBOXBOT_OAUTH2_CLIENT_SECRET", "s3cret")
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace(
        "[owner]", f'auth = "oauth2"\noauth2_token_url = "{token_endpoint}"\noauth2_client_id = "inboxbot-test"\n'
                   f'oauth2_mechanism = "{mechanism}"\n[owner]'))
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 ask" in capsys.readouterr().out
    assert _TokenEndpoint.requests[-1] == {"grant_type": "refresh_token", "refresh_token": "refresh-123",
                                           "client_id": "inboxbot-test", "client_secret": "s3cret"}
    client.logout()


def test_oauth2_refusal_is_a_clear_error(dovecot, imap_user, tmp_path, monkeypatch, capsys, token_endpoint):
    monkeypatch.setenv("INBOXBOT_PASSWORD", "expired")
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace(
        "[owner]", f'auth = "oauth2"\noauth2_token_url = "{token_endpoint}"\noauth2_client_id = "inboxbot-test"\n'
                   "[owner]"))
    assert main(["once", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "refused the refresh token (HTTP 400" in err and "expired" not in err


def test_status_check_for_health(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{tmp_path}"\n[replies]\nmode = "off"\n'
                   f'[state]\ndatabase = "{tmp_path / "s.sqlite3"}"\n')
    assert main(["status", "--check", "--config", str(cfg)]) == 1
    assert "never" in capsys.readouterr().out
