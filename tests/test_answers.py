"""Answers to the owner's replies: the message-notification corpus read by `explain`, the reading of an answer, and
the whole loop over Dovecot (invitation, draft, sent reply, answer by email and by network message, filed beside
the invitation, flagged, linked in the ledger, shown by status / pending / explain)."""
from __future__ import annotations

import email
import json
import re
import sqlite3
import subprocess
import sys
import time
from email.policy import default
from pathlib import Path

import pytest

from inboxbot.answers import read_answer, reply_text
from inboxbot.cli import main
from tests.conftest import CORPUS, PASSWORD, corpus_message, folder_messages
from tests.test_imap_once import write_config
from tests.test_tuning import _move_by_subject

MESSAGES = CORPUS / "messages"
LABELS = [json.loads(line) for line in (MESSAGES / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
SCREENING, SUSPICIOUS, DECLINED = "Invitations/Screening", "Invitations/Suspicious", "Invitations/Declined"


# --- the corpus of message notifications ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def explained() -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "inboxbot", "explain", "--config", "config.toml", "--json",
                           *[lab["source"] for lab in LABELS]], cwd=CORPUS, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {Path(o["source"]).name: o for o in map(json.loads, done.stdout.splitlines())}


@pytest.mark.parametrize("lab", LABELS, ids=[Path(lab["source"]).stem for lab in LABELS])
def test_message_notifications_are_read(explained, lab):
    o = explained[Path(lab["source"]).name]
    for key in ("kind", "network", "authentic", "decision"):
        assert o[key] == lab[key], key
    message = o["message"]
    assert message is not None and message["doubts"] == []
    for key, want in lab["sender"].items():
        have = message["sender"][key] or ""
        assert (want in have) if key == "profile_url" else (have == want), key
    assert not re.search(r"[?&](trk|midToken|sc_o|aref)=", message["sender"]["profile_url"])
    if "text" in lab:
        assert " ".join(message["text"].split()) == lab["text"]
    assert message["language"] == lab["language"]
    if lab["authentic"]:
        assert message["reading"]["intent"] == lab["intent"]
    else:  # a forged notification is not read as anybody's answer
        assert message["reading"]["intent"] == "generic"


def test_invitations_are_no_message_notifications():
    done = subprocess.run([sys.executable, "-m", "inboxbot", "explain", "--config", "config.toml", "--json",
                           "mail/027-collector-default-en-2020.eml", "mail/048-inmail-recruiter-2026.eml"],
                          cwd=CORPUS, capture_output=True, text=True)
    invitation, inmail = map(json.loads, done.stdout.splitlines())
    assert "message" not in invitation
    assert inmail["message"]["sender"]["name"] == "Declan Frost"  # an InMail is a message notification too
    assert inmail["message"]["text"].startswith("I'm hiring a Staff Product Manager")
    assert inmail["message"]["reading"]["intent"] == "purposeful"  # "Would you be open to a call?"


@pytest.mark.parametrize("text, intent, quoted", [
    ("We met at the Lyon conference in 2024, at the data panel.", "claim", "We met at the Lyon conference in 2024"),
    ("I'm starting a reading group on data ethics. Would you join?", "purposeful", "Would you join?"),
    ("We help SaaS teams double revenue. Book a free audit at www.growfast.example", "pitch", "Book a free audit"),
    ("Wir haben uns auf der Hannover Messe kennengelernt.", "claim", "Hannover Messe"),
    ("Just thought it would be good to connect :)", "generic", None),
    (None, "generic", None),
])
def test_read_answer(text, intent, quoted):
    reading = read_answer(text)
    assert reading.intent == intent
    if quoted:
        assert quoted in reading.quote and quoted in reading.summary
    assert reading.advice


def test_reply_text_drops_the_quoted_message():
    text = "Hi Robin,\nwe met in Lyon.\n\nOn Tue, 3 Dec 2026 at 10:00, Robin Castellano wrote:\n> Where did we meet?\n"
    assert reply_text(text) == "Hi Robin,\nwe met in Lyon."


# --- over Dovecot --------------------------------------------------------------------------------------------

INVITATIONS = {"027": "Olivia Brandt", "040": "Johanna Weber", "083": "Françoise Lefèvre", "036": "Sofia Lindholm"}


def _header(raw: bytes, name: str) -> str:
    return str(email.message_from_bytes(raw, policy=default)[name] or "")


def _email_answer(draft: bytes) -> bytes:
    """Françoise answers the owner's reply from her mail program: In-Reply-To the reply, quoting it."""
    reply_id = _header(draft, "Message-ID")
    return (f"From: =?utf-8?q?Fran=C3=A7oise_Lef=C3=A8vre?= <francoise.lefevre@example.org>\n"
            f"To: Robin Castellano <robin.castellano@example.net>\nSubject: Re: {_header(draft, 'Subject')}\n"
            f"Date: Thu, 03 Dec 2026 10:00:00 +0100\nMessage-ID: <answer-1@example.org>\n"
            f"In-Reply-To: {reply_id}\nReferences: {_header(draft, 'References')} {reply_id}\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            "Bonjour Robin,\nwe met at the Lyon conference in 2024, at the data panel.\n\n"
            "On Wed, 2 Dec 2026, Robin Castellano wrote:\n> Where did we meet?\n").encode()


def _ledger(cfg: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(cfg.parent / "state.sqlite3"))
    db.row_factory = sqlite3.Row
    return db


@pytest.fixture
def asked(dovecot, imap_user, tmp_path, monkeypatch):
    """Four invitations screened, each with a draft; the owner sends three of the replies (Drafts -> Sent)."""
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    for name in INVITATIONS:
        client.append("INBOX", corpus_message(name))
    cfg = write_config(tmp_path, dovecot, imap_user, replies="give_up_after_days = 30")
    assert main(["once", "--config", str(cfg)]) == 0
    drafts = {_header(m["raw"], "In-Reply-To"): (uid, m["raw"])
              for uid, m in folder_messages(client, "Drafts").items()}
    assert len(drafts) == 4
    sent = {}
    for invitation, (uid, raw) in drafts.items():
        if invitation == _header(corpus_message("036"), "Message-ID"):
            continue  # never sent: still pending, and still a draft
        client.append("Sent", raw, flags=("\\Seen",))
        client.select_folder("Drafts")
        client.delete_messages([uid])
        client.expunge()
        sent[invitation] = raw
    yield client, cfg, sent
    client.logout()


def test_answers_are_filed_beside_their_invitations(asked, capsys):
    client, cfg, sent = asked
    francoise = sent[_header(corpus_message("083"), "Message-ID")]
    assert _header(francoise, "To") == "Françoise Lefèvre <francoise.lefevre@example.org>"
    for raw in (_email_answer(francoise), (MESSAGES / "m02-linkedin-message-2020-en.eml").read_bytes(),
                (MESSAGES / "m05-xing-message-de.eml").read_bytes(),
                (MESSAGES / "m08-linkedin-message-never-asked-2020.eml").read_bytes(),
                (MESSAGES / "m09-forged-linkedin-message.eml").read_bytes()):
        client.append("INBOX", raw)
    capsys.readouterr()
    assert main(["once", "--config", str(cfg)]) == 0
    assert "3 answer" in capsys.readouterr().out

    # beside the invitations, flagged; the one never asked stays in the inbox untouched; the forgery is quarantined
    screening = folder_messages(client, SCREENING)
    answers = {_header(m["raw"], "Message-ID"): m for m in screening.values()
               if _header(m["raw"], "Message-ID") in ("<answer-1@example.org>",
                                                      "<1927364510.5521384.1586701233456.JavaMail.app@ltx1-app12240"
                                                      ".prod.linkedin.com>",
                                                      "<65a2f1c0b9e84_3f2a1d4c8e9b@xing-mailer-7c9d.mail.xing.com>")}
    assert len(answers) == 3
    assert all("\\Flagged" in m["flags"] for m in answers.values())
    assert len(screening) == 4 + 3  # the four invitations wait there too
    inbox = folder_messages(client, "INBOX")
    assert [_header(m["raw"], "Subject") for m in inbox.values()] == ["Victor Hale sent you a new message"]
    assert "\\Flagged" not in next(iter(inbox.values()))["flags"]
    suspicious = folder_messages(client, SUSPICIOUS)
    assert [_header(m["raw"], "Subject") for m in suspicious.values()] == ["Olivia Brandt sent you a new message"]

    # linked in the ledger to the right invitations, read
    db = _ledger(cfg)
    links = {r["sender"]: r for r in db.execute(
        "SELECT a.*, m.message_id AS invitation_id, m.kind AS invitation_kind FROM answers a "
        "JOIN messages m ON m.id = a.invitation")}
    assert set(links) == {"Olivia Brandt", "Johanna Weber", "Françoise Lefèvre"}
    assert links["Olivia Brandt"]["invitation_id"] == _header(corpus_message("027"), "Message-ID")
    assert links["Johanna Weber"]["invitation_id"] == _header(corpus_message("040"), "Message-ID")
    assert links["Françoise Lefèvre"]["invitation_id"] == _header(corpus_message("083"), "Message-ID")
    assert {r["invitation_kind"] for r in links.values()} == {"invitation"}
    assert (links["Olivia Brandt"]["via"], links["Johanna Weber"]["via"], links["Françoise Lefèvre"]["via"]) == \
        ("linkedin", "xing", "email")
    assert links["Johanna Weber"]["language"] == "de" and links["Johanna Weber"]["intent"] == "claim"
    assert links["Françoise Lefèvre"]["text"] == "Bonjour Robin,\nwe met at the Lyon conference in 2024, at the " \
                                                 "data panel."
    assert all(r["filed_to"] == SCREENING for r in links.values())

    # status says who answered and what; pending lists only the one asked and not answered
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert 'Françoise Lefèvre answered (confirms a meeting or tie: "we met at the Lyon conference in 2024, at ' \
           'the data panel.") — consider accepting' in out
    assert "Olivia Brandt answered (gives a purpose" in out
    assert "1 invitation(s) asked and not answered" in out
    assert main(["pending", "--config", str(cfg), "--json"]) == 0
    pending = json.loads(capsys.readouterr().out)
    assert [(p["inviter"], p["reply"], p["folder"], p["age_days"]) for p in pending] == \
        [("Sofia Lindholm", "draft not sent yet", SCREENING, 0)]
    assert main(["pending", "--config", str(cfg)]) == 0
    assert "Sofia Lindholm (linkedin): asked today" in capsys.readouterr().out

    # explain on an answer shows the invitation it belongs to
    assert main(["explain", "--config", str(cfg), str(MESSAGES / "m02-linkedin-message-2020-en.eml")]) == 0
    assert "answers the invitation of Olivia Brandt (" in capsys.readouterr().out

    # a second pass changes nothing
    assert main(["once", "--config", str(cfg)]) == 0
    assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 3
    assert len(folder_messages(client, SCREENING)) == 7

    # replay screens the invitations again and leaves the answers alone
    assert main(["replay", "--config", str(cfg), "--json"]) == 0
    replayed = capsys.readouterr().out
    assert "Brandt sent you" not in replayed and "answer-1@example.org" not in replayed

    # the owner accepts Olivia after her answer: the move teaches as it always did
    _move_by_subject(client, SCREENING, "Invitations/Accept", b"Robin, please add me to your LinkedIn network")
    db.execute("UPDATE meta SET value = 0 WHERE key LIKE 'learned-at:%'")
    db.commit()
    assert main(["once", "--config", str(cfg)]) == 0
    assert [r[0] for r in db.execute("SELECT name FROM learned WHERE action = 'contact'")] == ["Olivia Brandt"]


def test_unanswered_invitations_go_to_declined_after_give_up_after_days(asked, capsys):
    client, cfg, _ = asked
    db = _ledger(cfg)
    with db:
        db.execute("UPDATE messages SET first_seen = ? WHERE decision = 'ask'", (time.time() - 31 * 86400,))
    assert main(["once", "--config", str(cfg)]) == 0  # nothing new arrived: the pass runs for the overdue ones
    declined = folder_messages(client, DECLINED)
    assert sorted(_header(m["raw"], "Message-ID") for m in declined.values()) == \
        sorted(_header(corpus_message(n), "Message-ID") for n in INVITATIONS)
    assert len(folder_messages(client, SCREENING)) == 0
    assert main(["pending", "--config", str(cfg)]) == 0
    assert "No invitation is waiting for an answer." in capsys.readouterr().out
    # the learner does not take inboxbot's own move for the owner blocking them
    with db:
        db.execute("UPDATE meta SET value = 0 WHERE key LIKE 'learned-at:%'")
    assert main(["once", "--config", str(cfg)]) == 0
    assert db.execute("SELECT COUNT(*) FROM learned").fetchone()[0] == 0


def test_an_email_from_an_inviters_own_address_is_an_answer_but_not_the_owners_copy():
    from inboxbot.answers import Asked
    from inboxbot.parse import parse
    asked = Asked(rows={7: {"name": "Elena Marsh", "folder": SCREENING}},
                  by_email={"elena@lumenbrand.example": 7}, owner="robin.castellano@example.net")
    new_thread = (b"From: Elena Marsh <Elena@Lumenbrand.example>\nTo: robin.castellano@example.net\n"
                  b"Subject: about my invitation\nMessage-ID: <e1@lumenbrand.example>\n\n"
                  b"We worked together at Quillfeather in 2019, on the billing team.\n")
    assert asked.wants_headers(new_thread.split(b"\n\n")[0])
    answer = asked.recognise(new_thread, parse(new_thread), None)
    assert (answer.invitation_id, answer.via, answer.sender, answer.folder) == (7, "email", "Elena Marsh", SCREENING)
    assert answer.reading.intent == "claim"
    stranger = new_thread.replace(b"Elena@Lumenbrand.example", b"someone@else.example")
    assert not asked.wants_headers(stranger.split(b"\n\n")[0])
    assert asked.recognise(stranger, parse(stranger), None) is None


def test_the_digest_says_who_answered_and_who_is_still_waited_for(tmp_path):
    from inboxbot import digest
    from inboxbot.answers import Answer
    from inboxbot.model import Decision, Invitation, Kind, MessageRef, Person, Verdict
    from inboxbot.store import DONE, Ledger
    ledger = Ledger(tmp_path / "state.sqlite3")
    ask = Verdict(Decision.ASK, "where_did_we_meet", ("collector: no note",), ())
    for uid, name in (("1", "Jane Doe"), ("2", "Karl Weiss")):
        inv = Invitation(Kind.INVITATION, "linkedin", Person(name=name), message_id=f"<inv{uid}@linkedin.com>")
        ledger.plan("acct", MessageRef("INBOX", 1, uid), inv, ask, inviter_key=f"linkedin:{uid}",
                    target_folder=SCREENING, draft_message_id=f"<inboxbot.{uid}@example.net>", state=DONE)
    jane = ledger.by_message_id("acct", "<inv1@linkedin.com>")["id"]
    ledger.record_answer("acct", MessageRef("INBOX", 1, "3"), "<a@linkedin.com>",
                         Answer(jane, "linkedin", "Jane Doe", "We met in Lyon.", "en", read_answer("We met in Lyon."),
                                SCREENING))
    now = time.time()
    body = digest.build(ledger, "acct", now - 7 * 86400, now + 1, "Robin", "robin@example.net", "weekly",
                        ("Invitations/Accept", "Invitations/Declined")).body
    answered = body.split("Answered this week:")[1].split("\n\n")[0]
    waiting = body.split("Still waiting for an answer:")[1].split("\n\n")[0]
    assert 'Jane Doe answered (confirms a meeting or tie: "We met in Lyon.") — consider accepting' in answered
    assert "Karl Weiss (linkedin), asked 0 day(s) ago" in waiting and "Jane" not in waiting


def test_a_ledger_of_schema_2_gains_the_answers_table(tmp_path):
    from inboxbot.store import SCHEMA_VERSION, Ledger
    path = tmp_path / "state.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TABLE answers")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.close()
    ledger = Ledger(path)
    assert ledger.get_meta("schema_version") == str(SCHEMA_VERSION) == "3"
    assert ledger.unanswered("acct") == [] and ledger.answers_since("acct", 0) == []


def test_a_thread_counts_through_inboxbots_draft_not_through_the_invitation():
    from inboxbot.answers import Asked
    from inboxbot.parse import parse
    asked = Asked(rows={7: {"name": "Elena Marsh", "folder": SCREENING}},
                  by_message_id={"<inboxbot.ab12@example.net>": 7}, owner="robin.castellano@example.net")
    head = (b"From: Someone Else <someone@list.example>\nTo: robin.castellano@example.net\nSubject: Re: Invitation\n"
            b"Message-ID: <r1@list.example>\n")
    on_the_list = head + b"In-Reply-To: <489314736.1@ela4-app2342.prod>\n\nDon't accept it, Robin.\n"
    assert not asked.wants_headers(on_the_list.split(b"\n\n")[0])
    assert asked.recognise(on_the_list, parse(on_the_list), None) is None
    to_the_draft = head + b"References: <489314736.1@ela4-app2342.prod> <inboxbot.ab12@example.net>\n\nIt's me.\n"
    assert asked.wants_headers(to_the_draft.split(b"\n\n")[0])
    assert asked.recognise(to_the_draft, parse(to_the_draft), None).invitation_id == 7
    own_copy = to_the_draft.replace(b"someone@list.example", b"Robin.Castellano@example.net")
    assert asked.recognise(own_copy, parse(own_copy), None) is None


def test_only_the_address_inboxbots_reply_went_to_identifies_an_email_answer(tmp_path):
    """The address a note gives (the sender's word) never makes a stranger's mail an 'answer': only the address
    the reply was addressed to, which the network vouched for. A paste-in draft went to the owner: no address."""
    from inboxbot.answers import Asked
    from inboxbot.model import Decision, Invitation, Kind, MessageRef, Person, Verdict
    from inboxbot.store import DONE, Ledger
    ledger = Ledger(tmp_path / "state.sqlite3")
    owner = "robin.castellano@example.net"
    ask = Verdict(Decision.ASK, "coffee_invite", ("stranger: a note",), ())
    cases = (("1", "Marta Soares", "marta@unsigned.example", owner),  # paste-in: a Reply-To nobody signed gave it
             ("2", "Elena Marsh", "elena@lumenbrand.example", "elena@lumenbrand.example"))  # vouched, answered to
    for uid, name, address, draft_to in cases:
        ref = MessageRef("INBOX", 1, uid)
        inv = Invitation(Kind.INVITATION, "linkedin", Person(name=name, email=address),
                         message_id=f"<inv{uid}@x>")
        ledger.plan("acct", ref, inv, ask, inviter_key=f"k{uid}", target_folder=SCREENING,
                    draft_message_id=f"<inboxbot.{uid}@example.net>", state=DONE)
        ledger.set_draft("acct", ref, message_id=f"<inboxbot.{uid}@example.net>", folder="Drafts", uid=uid,
                         to=draft_to, digest="d")
    asked = Asked.load(ledger, "acct", SCREENING, owner)
    assert asked.by_email == {"elena@lumenbrand.example": asked.by_message_id["<inboxbot.2@example.net>"]}
