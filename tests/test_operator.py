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
                   f'email = "robin.castellano@example.net"\n[replies]\nmax_age_days = 0\n'
                   f'[state]\ndatabase = "{tmp_path / "state.sqlite3"}"\n'
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


def _unprivileged(*args: str) -> subprocess.CompletedProcess:
    """inboxbot as a user bound by file permissions: root without the capability to override them."""
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 \
        else []
    return subprocess.run([*prefix, sys.executable, "-m", "inboxbot", *args], capture_output=True, text=True,
                          timeout=120)


def _not_mine(path: Path, mode: int) -> None:
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)


def test_an_unwritable_state_folder_or_file_says_what_is_wrong(tmp_path):
    import getpass
    user = getpass.getuser()
    box, cfg = maildir_setup(tmp_path, "027")
    state = tmp_path / "state"
    state.mkdir()
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "state.sqlite3"), str(state / "s.sqlite3")))
    _not_mine(state, 0o555)
    done = _unprivileged("once", "--config", str(cfg))
    assert done.returncode == 2, done.stdout
    assert f"cannot be created: user {user} may not write to the folder {state} (permission denied)" in done.stderr
    assert f"Make it writable for user {user} (chown/chmod), or point state.database at a place" in done.stderr
    assert "damaged" not in done.stderr and "aside" not in done.stderr and "Traceback" not in done.stderr
    _not_mine(state, 0o777)
    assert run("once", "--config", str(cfg)).returncode == 0
    _not_mine(state / "s.sqlite3", 0o644)  # a healthy ledger this user may only read
    box.add(mailbox.MaildirMessage(corpus_message("036")))
    done = _unprivileged("once", "--config", str(cfg))
    assert done.returncode == 2
    assert f"cannot be written by user {user}: permission denied (mode 644, owner uid" in done.stderr
    assert "aside" not in done.stderr and "Traceback" not in done.stderr
    assert len(box.get_folder("Drafts")) == 1  # nothing was done for the new message


def test_a_read_only_file_system_says_so(tmp_path):
    box, cfg = maildir_setup(tmp_path, "027")
    state = tmp_path / "ro"
    state.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(state)]
    if subprocess.run(mount, capture_output=True).returncode:
        import pytest
        pytest.skip("cannot mount a read-only file system here")
    try:
        cfg.write_text(cfg.read_text().replace(str(tmp_path / "state.sqlite3"), str(state / "s.sqlite3")))
        done = run("once", "--config", str(cfg))
    finally:
        subprocess.run(["umount", str(state)], check=True)
    assert done.returncode == 2
    assert f"cannot be written: {state} is on a read-only file system" in done.stderr
    assert "ReadWritePaths=" in done.stderr and "aside" not in done.stderr


def test_a_rejected_login_says_where_the_password_came_from(dovecot, imap_user, tmp_path):
    cfg = write_config(tmp_path, dovecot, imap_user)
    done = run("once", "--config", str(cfg), env={"INBOXBOT_PASSWORD": "wrong"})
    assert done.returncode == 2
    assert f"rejected the login for {imap_user} (password from $INBOXBOT_PASSWORD)" in done.stderr
    assert "check account.username and that variable" in done.stderr and "set-password" not in done.stderr
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\necho wrong\n")
    script.chmod(0o700)
    cfg.write_text(cfg.read_text().replace("[owner]", f'password_command = "{script}"\n[owner]'))
    done = run("once", "--config", str(cfg), env={"INBOXBOT_PASSWORD": ""})
    assert "(password from account.password_command)" in done.stderr
    assert "check account.username and what that command prints" in done.stderr and "wrong" not in done.stderr


def test_the_idle_watcher_waits_auth_backoff_after_a_rejected_login(dovecot, imap_user, tmp_path):
    import signal
    import time
    cfg = write_config(tmp_path, dovecot, imap_user, schedule='interval = "1h"\nauth_backoff = "1h"\n'
                                                             'backoff_max = "1s"')
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)],
                            env={**os.environ, "INBOXBOT_PASSWORD": "wrong"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)  # with backoff_max = 1s, a watcher that ignored auth_backoff would have retried 3 times
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err.count("IDLE stopped") == 1, err
    assert "next attempt in 3600 s (schedule.auth_backoff)" in err and "from $INBOXBOT_PASSWORD" in err
    assert err.count("pass failed") == 1


def _commands(monkeypatch) -> list[str]:
    """The IMAP commands this process sends from now on, by name."""
    import imaplib
    sent: list[str] = []
    command = imaplib.IMAP4._command
    monkeypatch.setattr(imaplib.IMAP4, "_command", lambda self, name, *args: sent.append(name) or
                        command(self, name, *args))
    return sent


_LOGIN = {"CAPABILITY", "LOGIN", "LIST", "NAMESPACE", "LOGOUT", "ENABLE", "ID"}  # what connecting costs


def test_a_pass_that_finds_nothing_costs_one_command_after_the_newest_mail_was_deleted(
        dovecot, imap_user, tmp_path, monkeypatch):
    from inboxbot import config
    from inboxbot.cli import Session, main, make_composer
    from inboxbot.policy.chain import build_chain
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    client.append("INBOX", corpus_message("058"))
    client.select_folder("INBOX")
    client.add_flags(client.search(["ALL"])[-1:], [b"\\Deleted"])
    client.expunge()  # the newest message went before inboxbot saw it: UIDNEXT is past the last UID there is
    cfg = write_config(tmp_path, dovecot, imap_user)
    settings = config.load(cfg).accounts[0]
    session = Session(settings, build_chain(settings), make_composer(settings))
    try:
        assert sum(session.run().counts.values()) == 1
        sent = _commands(monkeypatch)
        for _ in range(3):
            assert sum(session.run().counts.values()) == 0
        assert sent == ["NOOP"] * 3  # not NOOP, SELECT, UID SEARCH, EXAMINE… every time
    finally:
        session.close()
    sent.clear()
    assert main(["once", "--config", str(cfg)]) == 0
    assert [c for c in sent if c not in _LOGIN] == ["STATUS"]  # an idle `once`: one command, no EXAMINE
    client.logout()


# --- the command line and its logs ----------------------------------------------------------------------------

def test_global_options_before_the_command_count_and_every_log_line_is_json_with_a_zone(tmp_path):
    import json
    from datetime import datetime
    box, cfg = maildir_setup(tmp_path, "027", "060")
    done = run("--debug", "--log-format", "json", "once", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line, or this fails
    assert any(r["level"] == "debug" for r in lines)  # --debug before the command was honoured
    assert all(datetime.fromisoformat(r["time"]).tzinfo is not None for r in lines)
    ignored = [r for r in lines if r.get("decision") == "ignore"]  # the newsletter no network claims
    assert ignored and all(r["level"] == "debug" for r in ignored)  # one line per such mail is debug, not info
    assert [r["level"] for r in lines if r.get("decision") == "ask"] == ["info"]


def test_the_schedulers_lines_are_json_too(tmp_path, capsys):
    import json
    import logging
    from inboxbot.cli import main
    box, cfg = maildir_setup(tmp_path)
    assert main(["--log-format", "json", "check-config", "--config", str(cfg)]) == 0
    capsys.readouterr()
    logging.getLogger("apscheduler.scheduler").warning("Execution of job skipped: maximum number of running "
                                                       "instances reached (1)")
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["logger"] == "apscheduler.scheduler" and json.loads(line)["level"] == "warning"


def test_help_lists_each_command_once():
    done = run("--help")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    for command in ("demo", "init", "check-config", "explain", "set-password", "once", "run", "status", "replay",
                    "contacts"):
        assert sum(line.split()[:1] == [command] for line in lines) == 1, command


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_bare_number_is_not_a_duration(tmp_path):
    box, cfg = maildir_setup(tmp_path, extra='[schedule]\ninterval = 300\nbackoff_max = "90"\nauth_backoff = "30m"\n')
    done = run("check-config", "--config", str(cfg))
    assert done.returncode == 2
    assert "schedule.interval: needs a unit: write 90s, 5m or 1h" in done.stderr and "got 300" in done.stderr
    assert 'schedule.backoff_max: needs a unit: write 90s, 5m or 1h (as a string, "90s"), got "90"' in done.stderr
    assert "auth_backoff" not in done.stderr


def test_a_toml_syntax_error_gives_line_and_column(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[account]\ntype = "maildir"\npath = ~/Mail\n')
    done = run("check-config", "--config", str(cfg))
    assert done.returncode == 2
    assert "not valid TOML: line 3, column 8: Invalid value" in done.stderr
    assert "    path = ~/Mail\n           ^" in done.stderr


def test_the_config_is_found_where_operators_expect_and_init_writes_one(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "INBOXBOT_CONFIG": ""}
    default = tmp_path / "xdg" / "inboxbot" / "config.toml"
    done = run("check-config", env=env)
    assert done.returncode == 2
    assert f"the config file {default} does not exist" in done.stderr
    assert "Write one with `inboxbot init` (a commented config to fill in)" in done.stderr
    done = run("init", env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert default.stat().st_mode & 0o777 == 0o600
    text = default.read_text()
    assert text.startswith("# inboxbot configuration.") and 'host = "imap.example.com"' in text
    assert run("check-config", env=env).returncode == 0  # the example, as written, is a valid config
    again = run("init", env=env, stdin=subprocess.DEVNULL)
    assert again.returncode == 2 and "exists already; it was left as it is" in again.stderr
    other = tmp_path / "other.toml"
    done = run("check-config", env={**env, "INBOXBOT_CONFIG": str(other)})
    assert f"the config file {other} does not exist" in done.stderr  # $INBOXBOT_CONFIG comes first


def test_init_on_a_terminal_asks_for_the_account_and_owner(tmp_path):
    import pty
    target = tmp_path / "config.toml"
    main_fd, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "init", "--config", str(target)], stdin=terminal,
                            stdout=terminal, stderr=terminal, env={**os.environ, "INBOXBOT_CONFIG": ""})
    os.close(terminal)
    for answer in ("mail.example.org", "robin@example.org", "Robin Castellano", "robin@example.org"):
        os.write(main_fd, answer.encode() + b"\n")
    assert proc.wait(timeout=60) == 0
    os.close(main_fd)
    text = target.read_text()
    assert 'host = "mail.example.org"' in text and 'username = "robin@example.org"' in text
    assert 'name = "Robin Castellano"' in text and 'email = "robin@example.org"' in text
    assert '\nhost = "imap.example.com"' not in text and "Thom Example" not in text


def test_set_password_finds_no_keyring_before_asking(tmp_path):
    import pty
    box, cfg = maildir_setup(tmp_path)
    main_fd, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "set-password", "--config", str(cfg)], stdin=terminal,
                            stdout=terminal, stderr=terminal,
                            env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    os.close(terminal)
    assert proc.wait(timeout=60) == 2  # it did not wait for a password
    said = os.read(main_fd, 4096).decode()
    os.close(main_fd)
    assert "password for" not in said and "keyring cannot store the password" in said and "INBOXBOT_PASSWORD" in said


def test_a_failing_password_command_shows_its_error_never_its_arguments(dovecot, imap_user, tmp_path):
    script = tmp_path / "vault"
    script.write_text("#!/bin/sh\necho 'vault: the store is locked; run vault unlock' >&2\nexit 3\n")
    script.chmod(0o700)
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace("[owner]", f'password_command = "{script} get s3cr3t-path"\n[owner]'))
    done = run("once", "--config", str(cfg), env={"INBOXBOT_PASSWORD": ""})
    assert done.returncode == 2
    assert ("account.password_command (vault) exited with status 3: vault: the store is locked; run vault unlock"
            in done.stderr)
    assert "s3cr3t-path" not in done.stderr


def test_tables_show_the_uid_cut_long_names_and_align_wide_characters():
    import io
    from wcwidth import wcswidth
    from inboxbot.cli import print_report
    from inboxbot.worker import Handled, PassReport
    report = PassReport("me", dry_run=False)
    for uid, name in (("7", "王小明"), ("12", "Zoë 😀 Okafor"),
                      ("123", "Maximilian Alexander von Hohenzollern-Sigmaringen")):
        report.add(Handled(uid, name, "linkedin", "ask", "coffee_invite", "Invitations/Screening", "", ""))
        report.counts["ask"] += 1
    out = io.StringIO()
    print_report(report, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["uid", "inviter"]
    assert [line.split()[0] for line in lines[2:5]] == ["7", "12", "123"]
    assert "Maximilian Alexander von Ho…" in lines[4] and "Hohenzollern-Sigmaringen" not in lines[4]
    column = [wcswidth(line[:line.index("linkedin")]) for line in lines[2:5]]
    assert len(set(column)) == 1  # the network column starts at the same place on the screen in every row


def test_sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_bad(tmp_path):
    import signal
    import time
    box, cfg = maildir_setup(tmp_path, "027", extra='[schedule]\ninterval = "1s"\n')
    good = cfg.read_text()
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(predicate, what: str) -> None:
        for _ in range(400):
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"not within 20 s: {what}")

    def filed(folder: str) -> int:
        return len(box.get_folder(folder)) if (tmp_path / "Maildir" / f".{folder}").is_dir() else 0
    import threading
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        wait(lambda: filed("Invitations.Screening") == 1, "the first pass")
        cfg.write_text(good.replace('interval = "1s"', "interval = 1"))  # a mistake
        proc.send_signal(signal.SIGHUP)
        wait(lambda: any("SIGHUP" in line for line in lines), "the reload refused")
        box.add(mailbox.MaildirMessage(corpus_message("041")))  # the old config goes on working
        wait(lambda: filed("Invitations.Screening") == 2, "a pass under the old config")
        cfg.write_text(good + '[policy]\nblock = ["Marta Soares"]\n')
        proc.send_signal(signal.SIGHUP)
        wait(lambda: any("reloaded" in line for line in lines), "the reload")
        box.add(mailbox.MaildirMessage(corpus_message("043")))  # Marta Soares: an ask before, blocked now
        wait(lambda: filed("Invitations.Declined") == 1, "a pass under the new config")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    finally:
        proc.kill()
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert "SIGHUP: the new config was not taken, the running one is kept" in err
    assert "schedule.interval: needs a unit" in err
    assert "SIGHUP: config and templates reloaded" in err and "Traceback" not in err


def test_the_systemd_unit_matches_its_install_steps():
    import re
    unit = (Path(__file__).parent.parent / "contrib" / "inboxbot.service").read_text()
    bin_dir = re.search(r"PIPX_BIN_DIR=(\S+) pipx install \.", unit).group(1)
    start = re.search(r"^ExecStart=(\S+) run --config (\S+)$", unit, re.M)
    assert start.group(1) == f"{bin_dir}/inboxbot"  # the path the documented pipx install gives
    assert f"inboxbot init --config {start.group(2)}" in unit
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", unit, re.M)  # SIGHUP reloads, as `run` documents
    database = re.search(r'database = "(\S+)"', unit).group(1)
    assert Path(database).parent.as_posix() in re.search(r"^ReadWritePaths=(.*)$", unit, re.M).group(1).split()


def test_explain_a_message_on_the_server_by_uid(dovecot, imap_user, tmp_path):
    import json
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("058"))
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user)
    env = {"INBOXBOT_PASSWORD": PASSWORD}
    done = run("explain", "--folder", "INBOX", "--uid", "2", "--config", str(cfg), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("== INBOX UID 2\n") and "from Olivia Brandt" in done.stdout
    assert "decision: ask, reply with where_did_we_meet" in done.stdout and "HIT  collector" in done.stdout
    done = run("explain", "--json", "--uid", "1", "--uid", "9", "--config", str(cfg), env=env)
    assert done.returncode == 1  # one of them is not there
    first, missing = (json.loads(line) for line in done.stdout.splitlines())
    assert first["source"] == "INBOX UID 1" and first["decision"] == "ignore"
    assert missing == {"source": "INBOX UID 9", "error": "there is no message with UID 9 in INBOX"}
    inbox = folder_messages(client, "INBOX")
    assert len(inbox) == 2 and not any("\\Seen" in m["flags"] for m in inbox.values())  # read, not marked read
    done = run("explain", "--folder", "Nowhere", "--uid", "1", "--config", str(cfg), env=env)
    assert done.returncode == 2 and "cannot open the folder 'Nowhere'" in done.stderr
    assert run("explain", "--config", str(cfg)).returncode == 2
    client.logout()


def test_an_invitation_the_owner_files_loses_inboxbots_unedited_draft(dovecot, imap_user, tmp_path):
    import email
    from email.policy import default
    from tests.test_tuning import _move_by_subject
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))  # Olivia Brandt: ask, where_did_we_meet
    client.append("INBOX", corpus_message("036"))  # Sofia Lindholm: ask, confirm_meeting
    cfg = write_config(tmp_path, dovecot, imap_user)
    env = {"INBOXBOT_PASSWORD": PASSWORD}
    assert run("once", "--config", str(cfg), env=env).returncode == 0
    drafts = folder_messages(client, "Drafts")
    assert len(drafts) == 2
    # the owner edits Sofia's draft (saved again under its Message-ID, as a mail client does)
    (uid, sofia), = [(u, m) for u, m in drafts.items() if b"Sofia" in m["raw"]]
    edited = email.message_from_bytes(sofia["raw"], policy=default)
    edited.set_content(edited.get_content() + "\nSee you on Thursday!\n")
    client.select_folder("Drafts")
    client.delete_messages([uid])
    client.expunge()
    client.append("Drafts", edited.as_bytes(), flags=[b"\\Draft", b"\\Seen"])
    # and files both invitations herself
    _move_by_subject(client, "Invitations/Screening", "Invitations/Accept", b"Olivia Brandt")
    _move_by_subject(client, "Invitations/Screening", "Invitations/Declined", b"Sofia Lindholm")
    client.append("INBOX", corpus_message("058"))  # new mail: the next pass looks at what she did (idle: hourly)
    done = run("--debug", "once", "--config", str(cfg), env=env)
    assert done.returncode == 0, done.stderr
    left = [email.message_from_bytes(m["raw"], policy=default) for m in folder_messages(client, "Drafts").values()]
    assert len(left) == 1, done.stderr
    assert "See you on Thursday!" in left[0].get_content()  # only the edited one stays
    assert "inboxbot's draft for it (where_did_we_meet) is removed" in done.stderr
    assert "your edited draft for it stays" in done.stderr
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    replies = dict(db.execute("SELECT template, reply FROM messages WHERE template IS NOT NULL"))
    assert replies == {"where_did_we_meet": None, "confirm_meeting": "draft"}
    client.logout()


def test_several_source_folders_each_with_its_own_mark(dovecot, imap_user, tmp_path, monkeypatch):
    import json
    from inboxbot.cli import main
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.create_folder("Network")
    client.append("INBOX", corpus_message("027"))
    client.append("Network", corpus_message("036"))  # filtered there by the owner's own rules
    cfg = write_config(tmp_path, dovecot, imap_user, folders='inbox = ["INBOX", "Network"]')
    done = run("once", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "2 new · 2 ask" in done.stdout
    assert len(folder_messages(client, "Invitations/Screening")) == 2 and len(folder_messages(client, "Drafts")) == 2
    assert not folder_messages(client, "INBOX") and not folder_messages(client, "Network")
    client.append("Network", corpus_message("043"))
    done = run("once", "--config", str(cfg))
    assert "1 new · 1 ask" in done.stdout
    client.append("Network", _with_message_id(corpus_message("036"), "<again.036@test>"))
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    marks = dict(db.execute("SELECT folder, last_uid FROM folders WHERE folder IN ('INBOX', 'Network')"))
    assert marks == {"INBOX": 1, "Network": 2}
    client.append("INBOX", corpus_message("041"))
    done = run("once", "--config", str(cfg))
    assert "2 new · 1 ask · 1 held back" in done.stdout  # one each; the second repeats Sofia's invitation
    assert json.loads(run("status", "--json", "--config", str(cfg)).stdout)[0]["last_pass"]["decisions"] == \
        {"ask": 1, "held back": 1}  # both folders' passes
    sent = _commands(monkeypatch)
    assert main(["once", "--config", str(cfg)]) == 0
    assert [c for c in sent if c not in _LOGIN] == ["STATUS", "STATUS"]  # idle: one command per source folder
    for bad, problem in (("[]", "must be a folder name or a list of them"),
                         ('["INBOX", "INBOX"]', "names a folder twice")):
        cfg.write_text(cfg.read_text().replace('inbox = ["INBOX", "Network"]', f"inbox = {bad}"))
        done = run("check-config", "--config", str(cfg))
        assert done.returncode == 2 and f"folders.inbox: {problem}" in done.stderr
        cfg.write_text(cfg.read_text().replace(f"inbox = {bad}", 'inbox = ["INBOX", "Network"]'))
    client.logout()
