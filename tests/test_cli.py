"""The command line as a user meets it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from inboxbot.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inboxbot", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands():
    done = run("--help")
    assert done.returncode == 0
    for command in ("demo", "check-config", "explain", "set-password", "once", "run"):
        assert command in done.stdout


def test_demo_screens_the_sample_mailbox():
    done = run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "13 new · 3 accept · 6 ask · 1 feedback · 1 quarantine · 2 ignore" in out
    assert "Invitations/Suspicious" in out and "Subject: Reply to " in out and "X-Inboxbot" not in out


def test_demo_shows_an_answer_filed_beside_its_invitation():
    done = run("demo", "--keep")
    assert done.returncode == 0, done.stderr
    assert "Maildir: 1 new · 1 answer" in done.stdout
    assert 'Olivia Brandt answered (gives a purpose: "Would you join our first call in May?") — consider accepting' \
        in done.stdout
    kept = Path(done.stdout.rsplit("The demo folder is kept: ", 1)[1].strip())
    try:
        screening = [p for sub in ("new", "cur") for p in (kept / "Maildir" / ".Invitations.Screening" / sub).iterdir()]
        answer = [p for p in screening if b"Olivia Brandt sent you a new message" in p.read_bytes()]
        assert len(answer) == 1 and answer[0].name.rsplit(":2,", 1)[1].count("F") == 1  # flagged
        assert any(b"Robin, please add me to your LinkedIn network" in p.read_bytes() for p in screening)
    finally:
        shutil.rmtree(kept)


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: inboxbot" in capsys.readouterr().out


def test_set_password_reads_stdin_and_reports_a_missing_keyring(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[account]\nhost = "imap.example.com"\nusername = "me@example.com"\n[owner]\nemail = "me@x.org"\n')
    done = subprocess.run([sys.executable, "-m", "inboxbot", "set-password", "--config", str(cfg)], input="pw\n",
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "PATH": ""})
    assert done.returncode == 2
    assert "keyring cannot store the password" in done.stderr and "INBOXBOT_PASSWORD" in done.stderr
