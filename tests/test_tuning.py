"""Tuning with confidence: replay over the ledger, learning from the user's corrections, progress, the digest."""
from __future__ import annotations

import email
import io
import json
import logging
import mailbox
import os
import sqlite3
import subprocess
import sys
from email.policy import default
from pathlib import Path

import pytest

from inboxbot import digest, parse
from inboxbot.cli import main
from inboxbot.progress import Progress
from inboxbot.store import Ledger, invitation_from_json, invitation_record
from tests.conftest import CORPUS, PASSWORD, corpus_message, folder_messages
from tests.test_imap_once import write_config

LABELS = {json.loads(line)["source"].rpartition("/")[2]: json.loads(line)
          for line in (CORPUS / "labels.jsonl").read_text().splitlines()}
# the corpus messages whose inviter sent no note or only the network's default one, asked about under the
# default policy: with `collectors = "decline"` exactly these change
COLLECTORS = {"013-same-surname-not-known-2025.eml", "027-collector-default-en-2020.eml",
              "028-collector-no-note-pymk-traps-2025.eml", "029-collector-default-de-2024.eml",
              "030-collector-default-nl-2025.eml", "031-collector-default-pt-reminder-2016.eml",
              "032-collector-default-it-reminder-2025.eml", "033-collector-guest-en-2015.eml",
              "034-collector-guest-id-2016.eml", "035-collector-guest-reminder-es-2016.eml",
              "083-charset-iso-8859-1.eml", "087-folded-headers.eml", "090-emoji-name-facebook.eml",
              "091-rtl-name-arabic.eml", "093-html-entity-in-text.eml", "095-confusable-name.eml"}


# --- replay over a ledger built from the whole corpus (Maildir: no server needed) -----------------------------

@pytest.fixture
def corpus_ledger(tmp_path):
    """A Maildir holding the corpus, screened once under the corpus policy. Returns (config text, Message-ID ->
    file name, Maildir root)."""
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    names = {}
    for path in sorted((CORPUS / "mail").glob("*.eml")):
        raw = path.read_bytes()
        box.add(mailbox.MaildirMessage(raw))
        names[parse.message_id_of(raw)] = path.name
    text = (CORPUS / "config.toml").read_text().replace(
        'contacts = ["contacts.vcf", "Connections.csv"]',
        f'contacts = ["{CORPUS / "contacts.vcf"}", "{CORPUS / "Connections.csv"}"]')
    text += f'\n[account]\ntype = "maildir"\npath = "{root}"\n[state]\ndatabase = "{tmp_path / "state.db"}"\n'
    text += "[replies]\nmax_age_days = 0\n"  # the corpus is years old; these tests are about replays
    (tmp_path / "config.toml").write_text(text)
    assert main(["once", "--config", str(tmp_path / "config.toml")]) == 0
    return text, names, root


@pytest.fixture
def pool_starts(monkeypatch):
    """The chains the parse-and-screen pool was started with during a test."""
    from inboxbot.parse import pool
    started = []

    def spy(workers, chain):
        started.append(chain)
        return real(workers, chain)
    real = pool.start
    monkeypatch.setattr(pool, "start", spy)
    return started


def test_a_backlog_is_screened_on_every_core_as_in_one_process(pool_starts, corpus_ledger, tmp_path, caplog):
    """The whole corpus is one batch big enough for the pool: its workers parse and screen with the pass's chain
    and decide every message as the labels say (no silent fall-back to one process)."""
    _, names, _ = corpus_ledger
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: nothing runs in parallel")
    assert len(pool_starts) == 1
    assert not [r for r in caplog.get_records("setup") if "in parallel failed" in r.getMessage()]
    db = sqlite3.connect(tmp_path / "state.db")
    decided = {names[mid]: decision for mid, decision in db.execute("SELECT message_id, decision FROM messages")}
    expected = {name: label["decision"] for name, label in LABELS.items() if name in decided}
    assert len(expected) >= 90 and {name: decided[name] for name in expected} == expected


def _variant(tmp_path: Path, text: str, old: str, new: str) -> Path:
    assert old in text
    path = tmp_path / "new.toml"
    path.write_text(text.replace(old, new))
    return path


def _replay_json(cfg: Path, capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["replay", "--config", str(cfg), "--json", *extra]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    return result


def _maildir_ids(root: Path, folder: str) -> list[str]:
    box = mailbox.Maildir(str(root / ("." + folder.replace("/", "."))), create=False)
    return sorted(parse.message_id_of(box.get_bytes(key)) or "" for key in box.iterkeys())


def test_replay_with_collectors_declined_gives_the_exact_diff(corpus_ledger, tmp_path, capsys):
    text, names, _ = corpus_ledger
    cfg = _variant(tmp_path, text, 'collectors = "ask"', 'collectors = "decline"')
    result = _replay_json(cfg, capsys)
    changed = {names[c["message_id"]] for c in result["changes"]}
    assert changed == COLLECTORS
    assert all(c["old"]["decision"] == "ask" and c["new"] == {**c["new"], "decision": "decline", "template": None,
                                                              "rule": "collector"} for c in result["changes"])
    assert result["summary"] == f"16 of {result['replayed']} would change: 16 ask→decline (collector)"
    assert all(LABELS[name]["decision"] == "ask" for name in changed)


def test_replay_without_the_contact_files_gives_the_exact_diff(corpus_ledger, tmp_path, capsys):
    text, names, _ = corpus_ledger
    cfg = _variant(tmp_path, text, f'contacts = ["{CORPUS / "contacts.vcf"}", "{CORPUS / "Connections.csv"}"]',
                   "contacts = []")
    result = _replay_json(cfg, capsys)
    changed = {names[c["message_id"]]: (c["old"]["decision"], c["new"]["decision"], c["new"]["rule"])
               for c in result["changes"]}
    # exactly the invitations accepted because of a card in contacts.vcf or a row of Connections.csv (those
    # accepted through policy.allow, as recruiters or from the Sent folder stay accepted)
    assert set(changed) == {"001-known-email-2011-vcard.eml", "002-known-email-2013-connections.eml",
                            "003-known-name-accents-2019.eml", "004-known-name-caps-2016.eml",
                            "005-known-name-facebook.eml", "008-known-contact-pitches-2020.eml",
                            "096-fullwidth-name.eml"}
    assert {LABELS[name]["category"] for name in changed} == {"known-by-email", "known-by-name",
                                                               "known-contact-pitches", "fullwidth-name"}
    assert changed["008-known-contact-pitches-2020.eml"] == ("accept", "feedback", "sales-pitch")
    assert {v for k, v in changed.items() if k != "008-known-contact-pitches-2020.eml"} == {
        ("accept", "ask", "collector")}


def test_replay_text_output_and_since(corpus_ledger, tmp_path, capsys):
    text, _, _ = corpus_ledger
    cfg = _variant(tmp_path, text, 'collectors = "ask"', 'collectors = "decline"')
    capsys.readouterr()
    assert main(["replay", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    # 96: the mail whose subject speaks of connecting is read whole too (it may wear a network's layout)
    assert "16 of 96 would change: 16 ask→decline (collector)" in out
    assert "Olivia Brandt" in out and "collector: only the network's default note (en)" in out
    assert "Run again with --apply" in out
    later = _replay_json(cfg, capsys, "--since", "2999-01-01")
    assert later["replayed"] == 0 and later["summary"].startswith("nothing to replay")
    assert main(["replay", "--config", str(cfg), "--since", "yesterday"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_replay_apply_moves_redrafts_and_is_idempotent(corpus_ledger, tmp_path, capsys):
    text, names, root = corpus_ledger
    before_drafts = _maildir_ids(root, "Drafts")
    cfg = _variant(tmp_path, text, 'collectors = "ask"', 'collectors = "decline"')
    result = _replay_json(cfg, capsys, "--apply")
    assert result["applied"] and len(result["changes"]) == 16
    assert result["summary"] == f"16 of {result['replayed']} changed: 16 ask→decline (collector)"
    declined = {names.get(i) for i in _maildir_ids(root, "Invitations/Declined")}
    assert COLLECTORS <= declined
    assert not COLLECTORS & {names.get(i) for i in _maildir_ids(root, "Invitations/Screening")}
    # their where-did-we-meet drafts were inboxbot's own and unedited: removed; no other draft touched
    assert len(_maildir_ids(root, "Drafts")) == len(before_drafts) - 16
    again = _replay_json(cfg, capsys, "--apply")
    assert again["changes"] == [] and again["summary"] == f"none of {again['replayed']} changed"
    assert len(_maildir_ids(root, "Drafts")) == len(before_drafts) - 16
    # and back: asked again, with fresh drafts
    back = _replay_json(tmp_path / "config.toml", capsys, "--apply")
    assert len(back["changes"]) == 16 and len(_maildir_ids(root, "Drafts")) == len(before_drafts)
    assert COLLECTORS <= {names.get(i) for i in _maildir_ids(root, "Invitations/Screening")}


def test_replay_honours_max_age_days(corpus_ledger, tmp_path, capsys):
    """A replay that asks the collectors again files them back, but drafts nothing for years-old invitations."""
    text, names, root = corpus_ledger
    _replay_json(_variant(tmp_path, text, 'collectors = "ask"', 'collectors = "decline"'), capsys, "--apply")
    drafts = _maildir_ids(root, "Drafts")
    aged = tmp_path / "aged.toml"
    aged.write_text(text.replace("max_age_days = 0", "max_age_days = 30"))
    back = _replay_json(aged, capsys, "--apply")
    assert len(back["changes"]) == 16 and sorted(_maildir_ids(root, "Drafts")) == sorted(drafts)
    assert COLLECTORS <= {names.get(i) for i in _maildir_ids(root, "Invitations/Screening")}
    assert len([n for n in back["notes"] if "older than replies.max_age_days (30)" in n]) == 16


def test_replay_never_removes_a_draft_the_user_edited(corpus_ledger, tmp_path, capsys):
    text, names, root = corpus_ledger
    drafts = mailbox.Maildir(str(root / ".Drafts"), create=False)
    db = sqlite3.connect(tmp_path / "state.db")
    olivia = next(k for k, v in names.items() if v.startswith("027"))
    (draft_id,) = db.execute("SELECT draft_message_id FROM messages WHERE message_id=?", (olivia,)).fetchone()
    key = next(k for k in drafts.iterkeys() if draft_id.encode() in drafts.get_bytes(k))
    msg = email.message_from_bytes(drafts.get_bytes(key), policy=default)
    msg.set_content(msg.get_content() + "\nPS: it was at the Lisbon meetup, wasn't it?\n")
    drafts[key] = mailbox.MaildirMessage(msg.as_bytes())  # edited in the mail client, saved under its Message-ID
    cfg = _variant(tmp_path, text, 'collectors = "ask"', 'collectors = "decline"')
    capsys.readouterr()
    assert main(["replay", "--config", str(cfg), "--apply"]) == 0
    assert "the old draft was edited by you and is kept" in capsys.readouterr().out
    remaining = [drafts.get_bytes(k) for k in drafts.iterkeys()]
    assert sum(draft_id.encode() in raw for raw in remaining) == 1


# --- replay --apply against Dovecot: crash-safe ------------------------------------------------------------

@pytest.mark.parametrize("crash_at", ["replay-after-drop:2", "replay-after-draft:1", "replay-after-move:3"])
def test_replay_apply_survives_a_crash(dovecot, imap_user, tmp_path, monkeypatch, capsys, crash_at):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in ("027", "028", "029", "030", "003", "022"):
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    assert len(folder_messages(client, "Drafts")) == 5  # 4 collectors asked where we met, 1 pitch (feedback)
    new = tmp_path / "new.toml"
    new.write_text(cfg.read_text().replace("[policy]\n", '[policy]\ncollectors = "decline"\n'))
    env = dict(os.environ, INBOXBOT_PASSWORD=PASSWORD, INBOXBOT_CRASH_AT=crash_at)
    crashed = subprocess.run([sys.executable, "-m", "inboxbot", "replay", "--config", str(new), "--apply"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    capsys.readouterr()
    assert main(["replay", "--config", str(new), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "finished a replay that had been interrupted" in out
    assert main(["replay", "--config", str(new)]) == 0
    assert "none of 6 would change" in capsys.readouterr().out
    declined = folder_messages(client, "Invitations/Declined")
    assert len(declined) == 4 and len(folder_messages(client, "Invitations/Screening")) == 1
    drafts = [email.message_from_bytes(d["raw"]) for d in folder_messages(client, "Drafts").values()]
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    assert len(drafts) == 1 and db.execute("SELECT decision, template FROM messages WHERE draft_message_id=?",
                                           (drafts[0]["Message-ID"],)).fetchall() == [("feedback", "feedback")]
    assert db.execute("SELECT COUNT(*) FROM messages WHERE state != 'done'").fetchone()[0] == 0
    client.logout()


# --- learning from corrections made over IMAP -------------------------------------------------------------

def _again(raw: bytes, n: int) -> bytes:
    """The same inviter's invitation once more (a reminder): a new Message-ID, the same person."""
    head, sep, body = raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"message-id:")]
    return b"\n".join(lines + [f"Message-ID: <again{n}@test>".encode()]) + sep + body


def _move_by_subject(client, source: str, target: str, needle: bytes) -> None:
    if not client.folder_exists(target):
        client.create_folder(target)
    client.select_folder(source)
    for uid, item in client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).items():
        if needle in item[b"BODY[]"]:
            client.move([uid], target)
            return
    raise AssertionError(f"{needle!r} not in {source}")


def test_corrections_are_learned_and_change_the_next_decision(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in ("027", "022", "023"):  # a collector (ask), a pitch (feedback), a 2011 invitation with Reply-To
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user)
    assert main(["once", "--config", str(cfg)]) == 0
    assert len(folder_messages(client, "Drafts")) == 3

    # the user: accepts the collector after all, declines the pitch, sends one draft and throws two away
    _move_by_subject(client, "Invitations/Screening", "Invitations/Accept", b"Olivia Brandt")
    _move_by_subject(client, "Invitations/Screening", "Invitations/Declined", b"Victor Halloran")
    client.select_folder("Drafts")
    by_decision = {}
    for uid, item in client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).items():
        by_decision[email.message_from_bytes(item[b"BODY[]"])["To"]] = (uid, item[b"BODY[]"])
    to_inviter = next(k for k in by_decision if "robin.castellano" not in k)
    paste_in = [k for k in by_decision if "robin.castellano" in k]
    client.append("Sent", by_decision[paste_in[0]][1])  # sent as it was: the same Message-ID lands in Sent
    client.select_folder("Drafts")
    client.delete_messages([by_decision[k][0] for k in paste_in[:1] + [to_inviter]])
    client.expunge()

    # new mail from the same two inviters
    client.append("INBOX", _again(corpus_message("027"), 1))
    client.append("INBOX", _again(corpus_message("022"), 2))
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert "2 new · 1 accept · 1 decline" in capsys.readouterr().out
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    reasons = dict(db.execute("SELECT message_id, reasons FROM messages WHERE message_id LIKE '<again%'"))
    assert "what you taught inboxbot" in reasons["<again1@test>"] and "known-contact" in reasons["<again1@test>"]
    assert "blocked" in reasons["<again2@test>"] and "Declined" in reasons["<again2@test>"]

    assert main(["contacts", "list", "--config", str(cfg)]) == 0
    listed = capsys.readouterr().out
    assert "contact  Olivia Brandt" in listed and "block" in listed
    assert main(["contacts", "--json", "--config", str(cfg)]) == 0
    from datetime import datetime
    assert all(datetime.fromisoformat(r["created"]).tzinfo is not None  # ISO dates, as `status` gives them
               for r in json.loads(capsys.readouterr().out))
    assert main(["status", "--config", str(cfg), "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["learned"] == {"contact": 1, "block": 1}
    fates = {t: (d["sent"], d["discarded"], d["removed"], d["waiting"]) for t, d in
             status["drafts_by_template"].items()}
    assert sum(v[0] for v in fates.values()) == 1  # the one found in Sent
    assert sum(v[1] for v in fates.values()) == 1  # the inviter's own address, not in Sent: discarded
    # the one left waiting was for an invitation the user filed herself: withdrawn, not counted as her verdict
    assert sum(v[3] for v in fates.values()) == 0 and not folder_messages(client, "Drafts")
    assert main(["status", "--config", str(cfg)]) == 0
    assert "sent by you" in capsys.readouterr().out

    # forgetting a learned contact: the next invitation from her is asked about again
    key = db.execute("SELECT key FROM learned WHERE action='contact'").fetchone()[0]
    assert main(["contacts", "remove", key, "--config", str(cfg)]) == 0
    assert main(["contacts", "remove", "nobody", "--config", str(cfg)]) == 1
    client.append("INBOX", _again(corpus_message("027"), 3))
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 ask" in capsys.readouterr().out  # asked again: her first draft was withdrawn, never sent
    client.logout()


def test_learning_can_be_switched_off(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user, learning="from_accept = false")
    assert main(["once", "--config", str(cfg)]) == 0
    _move_by_subject(client, "Invitations/Screening", "Invitations/Accept", b"Olivia Brandt")
    client.append("INBOX", _again(corpus_message("027"), 1))
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert "1 new · 1 held back" in capsys.readouterr().out  # an ask again (not learned), without a second draft
    client.logout()


# --- the digest ------------------------------------------------------------------------------------------------

def test_the_digest_is_appended_once_per_period(dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    cfg = write_config(tmp_path, dovecot, imap_user, digest='every = "weekly"')
    assert main(["once", "--config", str(cfg)]) == 0  # the first period starts now
    for name in ("027", "003", "064", "022"):
        client.append("INBOX", corpus_message(name))
    assert main(["once", "--config", str(cfg)]) == 0
    assert folder_messages(client, "INBOX") == {}  # no digest before a week has passed
    db = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    db.execute("UPDATE meta SET value = value - 8 * 86400 WHERE key LIKE 'digest-at:%'")
    db.execute("UPDATE messages SET first_seen = first_seen - 86400")
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert main(["once", "--config", str(cfg)]) == 0
    inbox = folder_messages(client, "INBOX")
    assert len(inbox) == 1, "exactly one digest"
    (item,) = inbox.values()
    msg = email.message_from_bytes(item["raw"], policy=default)
    assert msg["Subject"] == "inboxbot: 4 invitations this week" and msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content()
    assert "accept" in body and "█" in body and "Forged invitations quarantined: 1" in body
    assert "Drafts waiting for you: 2" in body and "José Núñez" in body
    assert "\\Seen" not in item["flags"]
    # the digest itself is never screened as an invitation
    assert db.execute("SELECT COUNT(*) FROM messages WHERE message_id LIKE '<inboxbot-digest%'").fetchone()[0] == 0
    client.logout()


def test_digest_chart_scales_bars():
    lines = digest.chart([("ask", 10), ("accept", 5), ("decline", 0)])
    assert lines[0].count("█") == digest.BAR and lines[1].count("█") == digest.BAR // 2
    assert lines[0].endswith(" 10") and "decline" in lines[2]


# --- progress ------------------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal():
    now = [0.0]
    stream = _Terminal()
    progress = Progress("screening INBOX", 10000, stream=stream, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 0.5
        progress.advance(1000)
    progress.finish()
    out = stream.getvalue()
    assert out.startswith("\r") and out.endswith("\n")
    last = out.rstrip("\n").split("\r")[-1]
    assert "4,000/10,000 (40%)" in last and "2,000/s" in last and "about 3 s left" in last and "#" * 9 in last


def test_progress_logs_now_and_then_when_not_on_a_terminal(caplog):
    now = [0.0]
    progress = Progress("reading Sent", None, stream=io.StringIO(), clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="inboxbot"):
        for _ in range(10):
            now[0] += 10
            progress.advance(500)
        progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # at 10 s, 40 s, 70 s and 100 s (every 30 s) , then the end
    assert lines[-1] == "reading Sent: 5,000 so far, 50/s"


def test_small_work_shows_no_progress():
    stream = _Terminal()
    progress = Progress("x", 10, stream=stream)
    progress.advance(10)
    progress.finish()
    assert stream.getvalue() == ""


# --- the ledger ------------------------------------------------------------------------------------------------

def test_the_stored_parsed_form_keeps_the_evidence():
    inv = parse.parse(corpus_message("064"))  # a forgery: replaying the `forged` rule needs its evidence
    assert inv.evidence.claimed
    assert invitation_from_json(invitation_record(inv)) == inv
    assert invitation_from_json("{broken") is None and invitation_from_json(None) is None


def test_a_schema_1_ledger_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE messages (id INTEGER PRIMARY KEY, account TEXT NOT NULL, folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL, uid TEXT NOT NULL, message_id TEXT, kind TEXT, network TEXT,
            inviter_key TEXT, decision TEXT, template TEXT, reasons TEXT, invitation TEXT, state TEXT NOT NULL,
            error TEXT, draft_message_id TEXT, target_folder TEXT, reply TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            first_seen REAL NOT NULL, updated REAL NOT NULL, UNIQUE (account, folder, uidvalidity, uid));
        INSERT INTO messages (account, folder, uidvalidity, uid, state, decision, first_seen, updated)
            VALUES ('a', 'INBOX', 1, '7', 'done', 'ask', 0, 0);
    """)
    db.close()
    ledger = Ledger(path)
    assert [r["uid"] for r in ledger.replayable("a")] == ["7"]
    assert ledger.replayable("a")[0]["draft_fate"] is None
    ledger.learn("a", "linkedin:x", "block", name="X", email=None, profile_url=None, source="test")
    assert ledger.get_meta("schema_version") == "3"
    assert ledger.unanswered("a") == []  # schema 3: the answers table
    ledger.close()
