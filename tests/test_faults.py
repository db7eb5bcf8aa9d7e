"""Crashes at any instant, and a server that misbehaves: nothing is lost, nothing is done twice."""
from __future__ import annotations

import email
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from email.policy import compat32
from pathlib import Path

import pytest

from inboxbot import config, parse
from inboxbot.cli import main
from inboxbot.policy.chain import build_chain
from tests.conftest import CORPUS, PASSWORD, corpus_message, folder_messages
from tests.test_imap_once import write_config

FOLDER = {"accept": "Invitations/Accept", "ask": "Invitations/Screening", "feedback": "Invitations/Screening",
          "decline": "Invitations/Declined", "quarantine": "Invitations/Suspicious", "ignore": "INBOX"}
SAMPLE = [p.name[:3] for p in sorted((CORPUS / "mail").glob("*.eml"))]


def load(client, rounds: int, cfg: Path) -> dict[str, str]:
    """Append `rounds` copies of the corpus, each message with a Message-ID of its own; returns Message-ID ->
    the folder POLICY.md puts it in under cfg's policy (decided with the pure stages, as `explain` would)."""
    chain = build_chain(config.load(cfg, need_account=False))
    expected = {}
    for r in range(rounds):
        batch = []
        for name in SAMPLE:
            raw = corpus_message(name)
            msg_id = f"<crash{r}.{name}@test>"
            raw = _with_message_id(raw, msg_id)
            expected[msg_id] = FOLDER[chain.screen(parse.parse(raw)).decision.value]
            batch.append(raw)
        client.multiappend("INBOX", batch)
    return expected


def _with_message_id(raw: bytes, msg_id: str) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"message-id:")]
    return b"\n".join(lines + [f"Message-ID: {msg_id}".encode()]) + sep + body


def where_everything_is(client) -> tuple[dict[str, list[str]], list[str]]:
    """Message-ID -> folders holding it; and the Message-IDs of the drafts."""
    places: dict[str, list[str]] = {}
    drafts: list[str] = []
    for flags, _, folder in client.list_folders():
        if b"\\Noselect" in flags:
            continue
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            continue
        for item in client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
            header = next(v for k, v in item.items() if k.startswith(b"BODY"))
            msg_id = email.message_from_bytes(header, policy=compat32)["Message-ID"]
            (drafts.append(msg_id) if folder == "Drafts" else places.setdefault(msg_id, []).append(folder))
    return places, drafts


def run_once(cfg: Path, crash_at: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, INBOXBOT_PASSWORD=PASSWORD)
    env.pop("INBOXBOT_CRASH_AT", None)
    if crash_at:
        env["INBOXBOT_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", "inboxbot", "once", "--config", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_crash_at_any_instant_loses_nothing_and_repeats_nothing(dovecot, imap_user, tmp_path, monkeypatch):
    client = dovecot.client(imap_user)
    cfg = write_config(tmp_path, dovecot, imap_user, schedule="batch_size = 2",
                       replies="once_per_inviter_days = 0")
    expected = load(client, 4, cfg)
    kills = 0
    # the dangerous instants, by name: drafts appended but not recorded, flags set, a folder filed, a commit
    for point in ("after-append:1", "ledger-commit:2", "after-flags:1", "after-move:1", "ledger-commit:5",
                  "after-move:3", "after-append:2"):
        proc = run_once(cfg, point)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr.read())
        kills += 1
    rng = random.Random(1234)
    finished = False
    while kills < 30 or not finished:  # and at random instants, until a run gets to the end
        proc = run_once(cfg)
        if kills < 30:
            time.sleep(rng.uniform(0.05, 0.9))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.wait(timeout=60)
        finished = proc.returncode == 0
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    assert main(["once", "--config", str(cfg)]) == 0  # and once more: nothing left to do
    places, drafts = where_everything_is(client)
    assert kills >= 25
    lost = [m for m in expected if m not in places]
    doubled = {m: f for m, f in places.items() if len(f) > 1}
    misplaced = {m: (places[m], want) for m, want in expected.items() if m in places and places[m] != [want]}
    assert not lost and not doubled and not misplaced
    # every draft exactly once: one per message that was asked or given feedback
    answered = sum(1 for want in expected.values() if want == "Invitations/Screening")
    assert len(drafts) == len(set(drafts)) == answered
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    rows = dict(db.execute("SELECT message_id, coalesce(target_folder, 'INBOX') FROM messages WHERE state='done'"))
    assert db.execute("SELECT COUNT(*) FROM messages WHERE state NOT IN ('done')").fetchone()[0] == 0
    assert {m: rows[m] for m in expected if m in rows} == {m: expected[m] for m in rows if m in expected}
    client.logout()


class CuttingProxy:
    """A TCP proxy on loopback in front of Dovecot that cuts the connection once, in the middle of the first
    command containing `trigger`: the command reaches the server, then at most `let_through` bytes of its answer
    reach the client, and both sides are closed."""

    def __init__(self, target_port: int, trigger: bytes, let_through: int = 0) -> None:
        self.target_port, self.trigger, self.let_through = target_port, trigger, let_through
        self.cut = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            armed = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, armed, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, armed, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, armed: threading.Event, upstream: bool) -> None:
        budget = self.let_through
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upstream and not self.cut.is_set() and self.trigger in data:
                    self.cut.set()
                    armed.set()
                if not upstream and armed.is_set():
                    sink.sendall(data[:budget])
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()


# batch size 5 makes the corpus a backlog: read ahead on a second connection, written behind the pass on the first
@pytest.mark.parametrize("batch_size", [200, 5])
@pytest.mark.parametrize("trigger, let_through", [(b"UID FETCH", 3000), (b"APPEND", 0), (b"UID MOVE", 0),
                                                  (b"UID STORE", 0)])
def test_a_connection_cut_mid_command_loses_nothing(dovecot, imap_user, tmp_path, monkeypatch, capsys, trigger,
                                                    let_through, batch_size):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    proxy = CuttingProxy(dovecot.port, trigger, let_through)
    cfg = write_config(tmp_path, proxy, imap_user, replies="once_per_inviter_days = 0",
                       schedule=f"batch_size = {batch_size}")
    expected = load(client, 1, cfg)
    try:
        reading_ahead = batch_size == 5 and trigger == b"UID FETCH"  # then the cut one is the reading connection
        assert main(["once", "--config", str(cfg)]) == (0 if reading_ahead else 2)
        err = capsys.readouterr().err
        assert proxy.cut.is_set() and "Traceback" not in err and "failed" in err
        assert ("reading on this one" in err) == reading_ahead
        assert main(["once", "--config", str(cfg)]) == 0  # the next pass resumes
        assert main(["once", "--config", str(cfg)]) == 0
        assert capsys.readouterr().out.strip().endswith("nothing new")
    finally:
        proxy.close()
    places, drafts = where_everything_is(client)
    assert {m: places.get(m) for m in expected} == {m: [want] for m, want in expected.items()}
    answered = sum(1 for want in expected.values() if want == "Invitations/Screening")
    assert len(drafts) == len(set(drafts)) == answered
    client.logout()


def test_a_folder_deleted_under_the_bot_is_created_again(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    client.select_folder("Invitations/Screening")
    client.move(client.search(["ALL"]), "INBOX")
    client.unselect_folder()
    client.delete_folder("Invitations/Screening")
    client.append("INBOX", corpus_message("041"))
    from inboxbot.cli import Session, make_composer
    settings = config.load(cfg).accounts[0]
    session = Session(settings, build_chain(settings), make_composer(settings))
    try:
        session.run()  # a kept connection that still believes the folder exists
        client.append("INBOX", corpus_message("043"))
        client.delete_folder("Invitations/Screening")
        report = session.run()
    finally:
        session.close()
    assert report.errors == 0 and report.counts["ask"] == 1
    assert len(folder_messages(client, "Invitations/Screening")) == 1
    client.logout()


class RefusingProxy(CuttingProxy):
    """Answers NO, by itself, to the first `times` commands containing `trigger` (as a read-only mailbox or a busy
    server would); everything else passes through."""

    def __init__(self, target_port: int, trigger: bytes, times: int) -> None:
        self.times = times
        self.refused = 0
        super().__init__(target_port, trigger)

    def _pump(self, source, sink, armed, upstream) -> None:
        if not upstream:
            return super()._pump(source, sink, armed, upstream)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.trigger in data and self.refused < self.times:
                    self.refused += 1
                    tag = data.split(b" ", 1)[0]
                    source.sendall(tag + b" NO [CANNOT] refused by the test proxy\r\n")
                    continue
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.close()
            except OSError:
                pass


def test_a_refused_move_is_isolated_retried_and_at_last_given_up(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in ("027", "041", "043"):
        client.append("INBOX", corpus_message(name))
    proxy = RefusingProxy(dovecot.port, b"UID MOVE", times=2)  # the batch's MOVE, then the first single one
    cfg = write_config(tmp_path, proxy, imap_user)
    try:
        assert main(["once", "--config", str(cfg)]) == 0
        captured = capsys.readouterr()
        assert "1 failed" in captured.out and "tried again next pass (attempt 1 of 3)" in captured.err
        assert len(folder_messages(client, "INBOX")) == 1 and len(folder_messages(client, "Drafts")) == 3
        assert main(["once", "--config", str(cfg)]) == 0  # the retry goes through
        assert len(folder_messages(client, "INBOX")) == 0
        assert len(folder_messages(client, "Invitations/Screening")) == 3
        assert len(folder_messages(client, "Drafts")) == 3  # its draft was not made twice
        proxy.times = proxy.refused + 100  # from now on the server refuses every move
        client.append("INBOX", corpus_message("036"))
        for _ in range(3):
            assert main(["once", "--config", str(cfg)]) == 0
        assert "giving up after 3 attempts" in capsys.readouterr().err
        assert main(["status", "--json", "--config", str(cfg)]) == 0
        assert json.loads(capsys.readouterr().out)[0]["failed_messages"] == 1
        assert len(folder_messages(client, "INBOX")) == 1  # still there: nothing is lost
    finally:
        proxy.close()
    client.logout()


def test_a_full_quota_on_append_loses_nothing(own_dovecot, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    own_dovecot.set_quota("1K")  # smaller than any draft
    user = own_dovecot.add_user()
    client = own_dovecot.client(user)
    client.logout()
    for name in ("027", "041", "043", "022"):
        own_dovecot.deliver(user, corpus_message(name))  # delivered as the MTA would, past the quota
    cfg = write_config(tmp_path, own_dovecot, user)
    assert main(["once", "--config", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert "4 failed" in captured.out and "quota" in captured.err.lower()
    client = own_dovecot.client(user)
    assert len(folder_messages(client, "INBOX")) == 4  # none filed without its draft, none lost
    assert folder_messages(client, "Drafts") == {}
    client.logout()
