"""One worker per ledger: a second `once`, `run` or `replay --apply` on the same state database stops (exit 2) or
waits, with real processes against a real Dovecot; what is in Drafts afterwards is one draft per invitation."""
from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from collections import Counter
from email.policy import default
from pathlib import Path

from tests.conftest import PASSWORD, corpus_message, folder_messages
from tests.test_daemon import ledger_rows, start_run, stop, wait_for
from tests.test_imap_once import write_config

NAMES = ["027", "028", "029", "030", "022", "036", "041", "043"]


def inboxbot(*args: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [sys.executable, "-m", "inboxbot", *args]
    env = dict(os.environ, INBOXBOT_PASSWORD=PASSWORD)
    if wait:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def holder_pid(tmp_path: Path) -> int | None:
    try:
        return json.loads((tmp_path / "state.sqlite3.lock").read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def replies_to(client) -> Counter:
    """How many drafts answer each invitation (by the invitation's Message-ID)."""
    drafts = folder_messages(client, "Drafts").values()
    return Counter(email.message_from_bytes(d["raw"], policy=default)["In-Reply-To"] for d in drafts)


def test_a_second_once_stops_or_waits_and_nothing_is_answered_twice(dovecot, imap_user, tmp_path):
    client = dovecot.client(imap_user)
    rounds = 60
    for i in range(rounds):
        client.multiappend("INBOX", [corpus_message(n).replace(b"Message-ID: <", f"Message-ID: <s{i}.".encode(), 1)
                                     for n in NAMES])
    cfg = write_config(tmp_path, dovecot, imap_user, schedule="batch_size = 20", replies="once_per_inviter_days = 0")
    first = inboxbot("once", "--config", str(cfg), wait=False)
    try:
        wait_for(lambda: holder_pid(tmp_path) == first.pid, timeout=60, step=0.01)
        waiting = inboxbot("once", "--wait", "--config", str(cfg), wait=False)
        second = inboxbot("once", "--config", str(cfg))
        assert first.poll() is None  # the first was still at work all along
        out, err = first.communicate(timeout=300)
        waited_out, waited_err = waiting.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert f"another inboxbot (PID {first.pid} on " in second.stderr and "is running on the state database" \
        in second.stderr and "--wait" in second.stderr
    assert second.stdout == ""  # it did nothing
    assert waiting.returncode == 0, waited_err
    assert f"waiting for another inboxbot (PID {first.pid}" in waited_err and "nothing new" in waited_out
    answered = replies_to(client)
    drafted = ledger_rows(tmp_path, "SELECT COUNT(*) FROM messages WHERE reply='draft'")[0][0]
    assert drafted >= rounds * 5 and len(answered) == drafted  # every draft-worthy invitation has its draft ...
    assert set(answered.values()) == {1}  # ... and only one
    client.logout()


def test_once_and_replay_apply_stop_while_the_daemon_runs_and_status_works(dovecot, imap_user, tmp_path):
    client = dovecot.client(imap_user)
    for name in NAMES:
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user, schedule='interval = "1h"\nidle = false')
    daemon = start_run(cfg)
    try:
        wait_for(lambda: ledger_rows(tmp_path, "SELECT last_success FROM account_status WHERE last_success > 0"),
                 timeout=60)
        client.append("INBOX", corpus_message("043").replace(b"Message-ID: <", b"Message-ID: <again.", 1))
        for command in (["once"], ["replay", "--apply"]):
            done = inboxbot(*command, "--config", str(cfg))
            assert done.returncode == 2, done.stderr
            assert f"another inboxbot (PID {daemon.pid} on " in done.stderr
        status = inboxbot("status", "--config", str(cfg))
        dry = inboxbot("once", "--dry-run", "--config", str(cfg))
        replay = inboxbot("replay", "--config", str(cfg))
    finally:
        stop(daemon)
    assert status.returncode == 0 and "last success" in status.stdout
    assert dry.returncode == 0 and "1 new" in dry.stdout and "dry run" in dry.stdout
    assert replay.returncode == 0 and "none of" in replay.stdout
    assert set(replies_to(client).values()) == {1}
    # the daemon is gone: its lock went with it
    done = inboxbot("once", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "1 new" in done.stdout
    assert set(replies_to(client).values()) == {1}
    client.logout()


def test_the_lock_goes_with_a_killed_process(tmp_path):
    from inboxbot import instance
    ledger = tmp_path / "state.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from inboxbot import instance\nwith instance.single([Path(sys.argv[1])]):\n"
                               "    print('held', flush=True); time.sleep(60)", str(ledger)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        try:
            with instance.single([ledger]):
                raise AssertionError("the lock was taken twice")
        except instance.AlreadyRunning as exc:
            assert f"PID {holder.pid}" in str(exc)
    finally:
        holder.kill()
        holder.wait()
    with instance.single([ledger]):  # SIGKILL left no stale lock behind
        assert instance.holder(ledger)["pid"] == os.getpid()
    assert oct(os.stat(instance.lock_path(ledger)).st_mode & 0o777) == "0o600"
