"""The IMAP servers people have (tests/conftest.py SERVERS: Dovecot without MOVE, without UIDPLUS, without
MULTIAPPEND/CONDSTORE/IDLE, with Courier's "INBOX." namespace (announced, or to be guessed), with a connection limit;
and a real Cyrus): the whole corpus in one pass, every message where its decision says, each draft once, and a second
pass that changes nothing."""
from __future__ import annotations

import email
import json
import threading
import time
from email.policy import compat32
from pathlib import Path

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler

from inboxbot import config, parse
from inboxbot.cli import main
from inboxbot.errors import AuthenticationFailed, MailboxError, ServerBusy
from inboxbot.mail.imap import ImapMailbox
from inboxbot.policy.chain import build_chain
from inboxbot.scheduler import AccountRunner
from tests.conftest import PASSWORD, corpus_message, folder_messages
from tests.test_daemon import ledger_rows, start_run, stop, wait_for
from tests.test_faults import FOLDER, SAMPLE, CuttingProxy, _with_message_id
from tests.test_imap_once import write_config


def load_corpus(client, cfg: Path) -> dict[str, str]:
    """Append the corpus (CRLF line ends, as RFC 5322 wants and Cyrus insists), each message with a Message-ID of
    its own; returns Message-ID -> the folder (config name) POLICY.md puts it in under cfg's policy."""
    chain = build_chain(config.load(cfg, need_account=False))
    expected = {}
    for name in SAMPLE:
        msg_id = f"<server.{name}@test>"
        raw = _with_message_id(corpus_message(name).replace(b"\r\n", b"\n"), msg_id)
        expected[msg_id] = FOLDER[chain.screen(parse.parse(raw)).decision.value]
        client.append("INBOX", raw.replace(b"\n", b"\r\n"))
    return expected


def config_name(name: str, delimiter: str) -> str:
    """A server's folder name as the config writes it: "INBOX.Invitations.Accept" is "Invitations/Accept"."""
    if name.upper() != "INBOX" and name.upper().startswith("INBOX" + delimiter):
        name = name[len("INBOX" + delimiter):]
    return name.replace(delimiter, "/")


def where_everything_is(client) -> tuple[dict[str, list[str]], list[str], dict[str, set[str]]]:
    """Message-ID -> the folders (config names) holding it; the Message-IDs of the drafts; Message-ID -> flags."""
    places: dict[str, list[str]] = {}
    drafts: list[str] = []
    flags: dict[str, set[str]] = {}
    for attributes, delimiter, folder in client.list_folders():
        if b"\\Noselect" in attributes or b"\\NoSelect" in attributes:
            continue
        name = config_name(folder, delimiter.decode() if isinstance(delimiter, bytes) else delimiter)
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        for item in (client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}).values():
            header = next(v for k, v in item.items() if k.startswith(b"BODY"))
            msg_id = email.message_from_bytes(header, policy=compat32)["Message-ID"]
            if name == "Drafts":
                drafts.append(msg_id)
            else:
                places.setdefault(msg_id, []).append(name)
                flags[msg_id] = {f.decode() for f in item[b"FLAGS"]}
    return places, drafts, flags


def test_the_whole_corpus_is_filed_right_on_every_server(any_server, tmp_path, monkeypatch, capsys):
    if any_server.variant == "no-move-no-uidplus":
        pytest.skip("test_a_server_that_cannot_move_mail_safely_gets_nothing_filed covers it")
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    user = any_server.add_user()
    client = any_server.client(user)
    # batches of 5 make the corpus a backlog, read ahead on a second connection where the server allows one
    cfg = write_config(tmp_path, any_server, user, replies="once_per_inviter_days = 0", schedule="batch_size = 5")
    expected = load_corpus(client, cfg)
    assert main(["once", "--debug", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    # with a limit of two connections (the test's and the pass's), the read-ahead's is refused: one is enough
    refused = "no second connection for reading ahead (127.0.0.1"
    assert (refused in err and "[LIMIT]" in err) == (any_server.variant == "connection-limit")
    places, drafts, _ = where_everything_is(client)
    assert {m: places.get(m) for m in expected} == {m: [want] for m, want in expected.items()}
    answered = sum(1 for want in expected.values() if want == "Invitations/Screening")
    assert len(drafts) == len(set(drafts)) == answered
    assert main(["once", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip().endswith("nothing new")
    assert where_everything_is(client)[:2] == (places, drafts)
    client.logout()


@pytest.mark.parametrize("any_server", ["connection-limit"], indirect=True)
def test_a_connection_limit_is_not_a_wrong_password(any_server):
    user = any_server.add_user()
    held = [any_server.client(user), any_server.client(user)]  # the limit is two
    box = ImapMailbox("127.0.0.1", any_server.port, "none", user, PASSWORD)
    with pytest.raises(ServerBusy) as refused:
        box.open()
    assert not isinstance(refused.value, AuthenticationFailed) and "[LIMIT]" in str(refused.value)
    held.pop().logout()
    box.open()  # once a connection is free, the same login works
    box.close()
    held[0].logout()


def _opened(server, user: str) -> ImapMailbox:
    box = ImapMailbox("127.0.0.1", server.port, "none", user, PASSWORD)
    box.open()
    return box


@pytest.mark.parametrize("any_server", ["inbox-prefix", "inbox-prefix-no-namespace", "cyrus"], indirect=True)
def test_configured_folders_go_under_the_personal_namespace(any_server):
    box = _opened(any_server, any_server.add_user())
    try:
        assert box.real_name("Invitations/Accept") == "INBOX.Invitations.Accept"
        assert box.real_name("INBOX/Invitations/Accept") == "INBOX.Invitations.Accept"  # written in full
        assert box.real_name("INBOX") == "INBOX"
    finally:
        box.close()


@pytest.mark.parametrize("any_server", ["full", "cyrus"], indirect=True)
def test_a_folder_someone_else_created_meanwhile_is_fine(any_server):
    """Dovecot answers [ALREADYEXISTS] (RFC 5530); Cyrus only says so in words: then LIST decides."""
    user = any_server.add_user()
    box, other = _opened(any_server, user), any_server.client(user)
    try:
        other.create_folder(box.real_name("Invitations/Accept"))
        box.ensure_folder("Invitations/Accept")
        other.append(box.real_name("Invitations/Accept"), corpus_message("027").replace(b"\n", b"\r\n"))
    finally:
        box.close()
        other.logout()


@pytest.mark.parametrize("any_server", ["inbox-prefix"], indirect=True)
def test_a_refused_create_is_an_error_though_its_text_says_nonexistent(any_server):
    box = _opened(any_server, any_server.add_user())
    box._prefix = ""  # as a client that ignores NAMESPACE would: the server refuses a name outside "INBOX."
    try:
        with pytest.raises(MailboxError, match="nonexistent namespace"):
            box.ensure_folder("Invitations/Accept")
    finally:
        box.close()


@pytest.mark.parametrize("any_server", ["cyrus"], indirect=True)
def test_special_use_flags_are_found_whatever_their_case(any_server):
    """Cyrus lists \\drafts and \\sent; folders with names nobody would guess are found by the flag alone."""
    user = any_server.add_user()
    other = any_server.client(user)
    other.rename_folder("INBOX.Drafts", "INBOX.Brouillons")
    other.rename_folder("INBOX.Sent", "INBOX.Gesendet")
    other.logout()
    box = _opened(any_server, user)
    try:
        assert box.drafts_folder() == "INBOX/Brouillons" and box.sent_folder() == "INBOX/Gesendet"
    finally:
        box.close()


@pytest.mark.parametrize("any_server", ["connection-limit"], indirect=True)
def test_the_daemon_waits_briefly_after_a_connection_limit_and_long_after_a_wrong_password(any_server, tmp_path):
    user = any_server.add_user()
    settings = config.load(write_config(tmp_path, any_server, user)).accounts[0]
    held = [any_server.client(user), any_server.client(user)]
    try:
        for password, shortest, longest in ((PASSWORD, 0, 10), ("wrong", settings.schedule.auth_backoff - 10,
                                                                 settings.schedule.auth_backoff)):
            def run_pass(_settings, _stop, password=password):
                ImapMailbox("127.0.0.1", any_server.port, "none", user, password).open()
            runner = AccountRunner(settings, run_pass, threading.Event(), BlockingScheduler(), lambda *a, **k: None)
            runner.tick()
            wait = runner.not_before - time.time()
            assert runner.failures == 1 and shortest < wait <= longest
    finally:
        for client in held:
            client.logout()


@pytest.mark.parametrize("any_server", ["no-move"], indirect=True)
@pytest.mark.parametrize("trigger", [b"UID COPY", b"UID EXPUNGE"])
def test_without_move_a_cut_between_copy_and_expunge_files_nothing_twice(any_server, trigger, tmp_path, monkeypatch,
                                                                          capsys):
    """The COPY (or the EXPUNGE after it) reaches the server, its answer never reaches inboxbot: the next pass
    finds the copies in their folders and only removes the originals."""
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    user = any_server.add_user()
    client = any_server.client(user)
    proxy = CuttingProxy(any_server.port, trigger)
    cfg = write_config(tmp_path, proxy, user, replies="once_per_inviter_days = 0")
    expected = load_corpus(client, cfg)
    try:
        assert main(["once", "--config", str(cfg)]) == 2
        assert proxy.cut.is_set() and "Traceback" not in capsys.readouterr().err
        assert main(["once", "--config", str(cfg)]) == 0  # the next pass resumes
        assert main(["once", "--config", str(cfg)]) == 0
        assert capsys.readouterr().out.strip().endswith("nothing new")
    finally:
        proxy.close()
    places, drafts, _ = where_everything_is(client)
    assert {m: places.get(m) for m in expected} == {m: [want] for m, want in expected.items()}
    answered = sum(1 for want in expected.values() if want == "Invitations/Screening")
    assert len(drafts) == len(set(drafts)) == answered
    client.logout()


@pytest.mark.parametrize("any_server", ["no-move-no-uidplus"], indirect=True)
@pytest.mark.parametrize("copy_without_move", [False, True])
def test_a_server_that_cannot_move_mail_safely_gets_nothing_filed(any_server, copy_without_move, tmp_path,
                                                                   monkeypatch, capsys):
    """Neither MOVE nor UIDPLUS: removing one message would expunge the whole inbox. Nothing is filed (the
    keyword marks what was screened), or with account.copy_without_move copies are; drafts are saved either
    way; it is said once, and `once` and `status` do not call it a success."""
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    user = any_server.add_user()
    client = any_server.client(user)
    cfg = write_config(tmp_path, any_server, user, replies="once_per_inviter_days = 0", schedule="batch_size = 5")
    cfg.write_text(cfg.read_text().replace("[account]\n", f"[account]\ncopy_without_move = "
                                                          f"{str(copy_without_move).lower()}\n"))
    expected = load_corpus(client, cfg)
    assert main(["once", "--config", str(cfg)]) == (0 if copy_without_move else 3)
    assert main(["once", "--config", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("nothing new")
    assert captured.err.count("offers neither MOVE nor UIDPLUS") == 1
    places, drafts, flags = where_everything_is(client)
    if copy_without_move:
        assert {m: sorted(places.get(m, [])) for m in expected} == {m: sorted({"INBOX", want})
                                                                      for m, want in expected.items()}
    else:
        assert {m: places.get(m) for m in expected} == {m: ["INBOX"] for m in expected}
        unfiled = [m for m, want in expected.items() if want != "INBOX"]
        assert all(flags[m] & {"\\Flagged", "\\Seen"} == set() and "$InboxbotScreened" in flags[m] for m in unfiled)
    answered = sum(1 for want in expected.values() if want == "Invitations/Screening")
    assert len(drafts) == len(set(drafts)) == answered
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    status = json.loads(capsys.readouterr().out)[0]
    assert status["unfiled_last_time"] == (0 if copy_without_move else len(unfiled))
    if not copy_without_move:
        assert not status["healthy"]
    client.logout()


@pytest.mark.parametrize("any_server", ["inbox-prefix", "no-move-no-uidplus"], indirect=True)
def test_check_config_online_shows_the_real_folder_names_and_creates_nothing(any_server, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    user = any_server.add_user()
    cfg = write_config(tmp_path, any_server, user)
    assert main(["check-config", "--online", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    if any_server.variant == "inbox-prefix":
        assert "accept:     INBOX.Invitations.Accept (created when needed)" in out
        assert "drafts:     INBOX.Drafts" in out and "filing:     UID MOVE" in out
    else:
        assert "accept:     Invitations/Accept (created when needed)" in out
        assert "drafts:     Drafts" in out and "filing:     nothing is filed" in out
    client = any_server.client(user)
    assert not any("Invitations" in name for _, _, name in client.list_folders())
    client.logout()


@pytest.mark.parametrize("any_server", ["cyrus"], indirect=True)
def test_idle_starts_a_pass_for_new_mail_on_cyrus(any_server, tmp_path):
    """Cyrus without its idled polls the mailbox for an IDLE client every imapidlepoll (1 s here); with a pass
    interval of an hour, only IDLE can have started the pass that drafts the reply."""
    user = any_server.add_user()
    cfg = write_config(tmp_path, any_server, user, schedule='interval = "1h"')
    proc = start_run(cfg)
    client = any_server.client(user)
    try:
        wait_for(lambda: ledger_rows(tmp_path, "SELECT last_success FROM account_status WHERE last_success > 0"))
        time.sleep(1)  # the IDLE connection is up by now
        client.append("INBOX", corpus_message("027").replace(b"\n", b"\r\n"))
        wait_for(lambda: len(folder_messages(client, "INBOX.Drafts")) == 1, timeout=20)
    finally:
        err = stop(proc)
    assert "1 new · 1 ask" in err
    assert len(folder_messages(client, "INBOX.Invitations.Screening")) == 1
    client.logout()


@pytest.mark.parametrize("detail, refusal", [
    ("b'[LIMIT] Maximum number of connections from user+IP exceeded'", ServerBusy),
    ("b'[UNAVAILABLE] Temporary authentication failure'", ServerBusy),
    ("b'[INUSE] Mailbox is locked by another session'", ServerBusy),
    ("b'[AUTHENTICATIONFAILED] Authentication failed.'", AuthenticationFailed),
    ("b'[AUTHORIZATIONFAILED] Not allowed to log in as that user'", AuthenticationFailed),
    ("b'Login failed.'", AuthenticationFailed),  # no code: an old server; most likely the password
])
def test_login_refusals_are_classified_by_their_response_code(detail, refusal):
    from inboxbot.mail.imap import _login_refused
    error = _login_refused("imap.example.com:993", "me", detail)
    assert type(error) is refusal
