"""`inboxbot status` tells the truth: about a stopped daemon, a `once` from cron, failing logins, what was moved."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from inboxbot.cli import main
from tests.conftest import PASSWORD, corpus_message, folder_messages, maildir_config
from tests.test_faults import RefusingProxy
from tests.test_imap_once import write_config


def status(cfg: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    (s,) = json.loads(capsys.readouterr().out)
    return s


def status_text(cfg: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "inboxbot", "status", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_stopped_daemon_promises_no_next_pass(tmp_path, capsys):
    cfg = maildir_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(400):
            if (tmp_path / "state.sqlite3").exists() and status(cfg, capsys)["last_success"]:
                break
            time.sleep(0.05)
        running = status(cfg, capsys)
        assert running["next_pass"] is not None and running["healthy"]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stopped = status(cfg, capsys)
    assert stopped["next_pass"] is None
    assert "next pass:     none (no `inboxbot run` is running)" in status_text(cfg)


def test_a_killed_daemons_overdue_next_pass_is_not_shown(tmp_path, capsys):
    cfg = maildir_config(tmp_path, interval="1m")
    assert main(["once", "--config", str(cfg)]) == 0
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    with db:
        db.execute("UPDATE account_status SET next_run=?", (time.time() - 3600,))  # as a SIGKILLed daemon left it
    db.close()
    assert status(cfg, capsys)["next_pass"] is None


def test_a_once_after_the_daemon_counts_as_the_last_success(tmp_path, capsys):
    cfg = maildir_config(tmp_path, interval="1m")
    assert main(["once", "--config", str(cfg)]) == 0
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    week_ago = time.time() - 7 * 86400
    with db:  # a daemon ran a week ago, then cron took over with `once`
        db.execute("UPDATE account_status SET last_success=?, next_run=?", (week_ago, week_ago + 60))
        db.execute("UPDATE passes SET started=?, finished=?", (week_ago, week_ago))
    db.close()
    capsys.readouterr()
    assert main(["status", "--check", "--config", str(cfg)]) == 1
    assert "NOT healthy (no successful pass in 3 intervals)" in capsys.readouterr().out
    assert main(["once", "--config", str(cfg)]) == 0  # nothing new: still a successful pass
    assert main(["status", "--check", "--config", str(cfg)]) == 0
    s = status(cfg, capsys)
    assert s["healthy"] and time.time() - _epoch(s["last_success"]) < 60


def _epoch(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso).timestamp()


def test_not_healthy_while_the_login_fails(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    assert status(cfg, capsys)["healthy"]
    monkeypatch.setenv("INBOXBOT_PASSWORD", "wrong")
    assert main(["once", "--config", str(cfg)]) == 2
    s = status(cfg, capsys)
    assert not s["healthy"] and s["unhealthy_because"] == "the last attempt failed"
    assert "rejected the login" in s["last_error"]["message"]
    assert main(["status", "--check", "--config", str(cfg)]) == 1
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    assert main(["once", "--config", str(cfg)]) == 0
    s = status(cfg, capsys)
    assert s["healthy"] and s["last_error"] is None


def test_review_counts_what_was_moved_not_what_was_decided(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in ("027", "064"):  # a collector (ask) and a forgery (quarantine)
        client.append("INBOX", corpus_message(name))
    proxy = RefusingProxy(dovecot.port, b"UID MOVE", times=1000)
    try:
        cfg = write_config(tmp_path, proxy, imap_user)
        assert main(["once", "--config", str(cfg)]) == 0
        assert len(folder_messages(client, "INBOX")) == 2
        s = status(cfg, capsys)
        assert s["filed_for_review_7d"] == 0 and s["last_pass"]["decisions"] == {"ask": 1, "quarantine": 1}
        assert "0 moved to Invitations/Screening or Invitations/Suspicious in 7 days" in status_text(cfg)
        proxy.times = proxy.refused  # the server takes moves again: the retry files them
        assert main(["once", "--config", str(cfg)]) == 0
        assert len(folder_messages(client, "INBOX")) == 0
        assert status(cfg, capsys)["filed_for_review_7d"] == 2
    finally:
        proxy.close()
    client.logout()


def test_sent_counts_say_who_sent(tmp_path):
    cfg = maildir_config(tmp_path)
    assert main(["once", "--config", str(cfg)]) == 0
    text = status_text(cfg)
    assert "today:         1 draft(s) made\n" in text  # replies are drafted: no "0 sent" beside "sent by you"
    assert "sent by inboxbot" not in text and "0 sent by you" in text
