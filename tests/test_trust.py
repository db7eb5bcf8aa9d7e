"""Trust boundaries: what a stranger writes never chooses who is answered, who is trusted, or whether a message is
checked (issue 18). Over a real Dovecot and a real SMTP server where the break needs one."""
from __future__ import annotations

import email
from dataclasses import replace
from email.policy import default

import pytest

from inboxbot import config, parse
from inboxbot.cli import main
from inboxbot.model import Decision
from inboxbot.policy.chain import build_chain
from tests.conftest import CORPUS, corpus_message, folder_messages
from tests.test_send import send_config, smtp  # noqa: F401 - fixtures

ATTACKER = b"ceo@victim-corp.example"


def _with_note_prefix(raw: bytes, text: bytes) -> bytes:
    """Corpus 043 (a 2025 invitation with a personal note, From invitations@linkedin.com) with `text` put in front
    of its note."""
    assert b"I'm relocating to Lisbon" in raw
    return raw.replace(b"I'm relocating to Lisbon", text + b" I'm relocating to Lisbon")


def _new_message_id(raw: bytes, tag: bytes) -> bytes:
    return raw.replace(b"Message-ID: <", b"Message-ID: <" + tag + b".", 1)


def _unsigned_reply_to(raw: bytes) -> bytes:
    """Corpus 023 as a forger would make it: the signed 2011 message, its Reply-To replaced by one the signature
    does not cover."""
    raw = _new_message_id(raw.replace(b"h=From:Reply-To:Subject:", b"h=From:Subject:", 1), b"unsigned")
    return raw.replace(b"Reply-To: Elena Marsh <elena@lumenbrand.example>", b"Reply-To: Elena Marsh <" + ATTACKER + b">")


def _two_froms(raw: bytes) -> bytes:
    """Corpus 023 with a second, unsigned From above the signed one."""
    return _new_message_id(raw, b"twofroms").replace(
        b"\nFrom: Elena Marsh via LinkedIn", b"\nFrom: Elena Marsh <" + ATTACKER + b">"
                       b"\nFrom: Elena Marsh via LinkedIn", 1)


@pytest.fixture(scope="module")
def chain():
    return build_chain(config.load(CORPUS / "config.toml", need_account=False))


def test_only_an_address_the_network_signed_is_answered(send_config, smtp, capsys):  # noqa: F811
    """An address in the note, an unsigned Reply-To and a second From never receive anything; the signed 2011
    Reply-To does. The note's address is shown in the owner's paste-in draft, never put in To."""
    client, make = send_config
    _, recorder = smtp
    note_address = _with_note_prefix(corpus_message("043"), b"Write to me at " + ATTACKER + b".")
    client.multiappend("INBOX", [note_address, _unsigned_reply_to(corpus_message("023")),
                                 _two_froms(corpus_message("023")), corpus_message("023")])
    assert main(["once", "--config", str(make())]) == 0
    assert [rcpts for _, rcpts, _ in recorder.delivered] == [["elena@lumenbrand.example"]]
    assert len(folder_messages(client, "Invitations/Suspicious")) == 1  # the one with two From headers
    drafts = [email.message_from_bytes(m["raw"], policy=default) for m in folder_messages(client, "Drafts").values()]
    assert len(drafts) == 2
    for draft in drafts:
        assert [a.addr_spec for a in draft["To"].addresses] == ["robin.castellano@example.net"]
    (marta,) = [d for d in drafts if "Marta" in d.get_content()]
    assert ATTACKER.decode() in marta.get_content()  # shown for the owner to use, if they choose
    for _, _, raw in recorder.delivered:
        assert ATTACKER not in raw


def test_an_address_in_the_note_matches_no_contact(chain):
    """The note says an address of the owner's contacts (contacts.vcf) or at an allowed domain: not a known contact."""
    for address in (b"k.adeyemi@example.org", b"sam@northwind-labs.example"):
        inv = parse.parse(_with_note_prefix(corpus_message("043"), b"My mail: " + address + b"."))
        verdict = chain.screen(inv)
        assert verdict.decision is Decision.ASK, verdict.reasons


def test_a_signed_address_still_matches_a_contact(chain):
    """2011: the inviter's own Reply-To, signed by LinkedIn, is in contacts.vcf (001) / at an allowed domain (009)."""
    assert chain.screen(parse.parse(corpus_message("001"))).decision is Decision.ACCEPT
    assert chain.screen(parse.parse(corpus_message("009"))).decision is Decision.ACCEPT
    unsigned = corpus_message("001").replace(b"h=From:Reply-To:Subject:", b"h=From:Subject:", 1)
    assert chain.screen(parse.parse(unsigned)).decision is not Decision.ACCEPT


def test_without_a_trusted_header_nothing_is_vouched(chain):
    """No Authentication-Results from the owner's server: the Reply-To is the sender's word only."""
    raw = corpus_message("023").replace(b"Authentication-Results: mx.corpus.test;", b"X-Old-Results: x;", 1)
    inv = parse.parse(raw)
    verdict = chain.screen(inv)
    assert verdict.template and verdict.recipient is None
    assert chain.screen(parse.parse(corpus_message("023"))).recipient == "elena@lumenbrand.example"
    # a reply-to the parser read but no signature covers, on a message the trusted header passes
    forged = replace(parse.parse(corpus_message("023")), inviter=replace(inv.inviter, email_signed_by=()))
    assert chain.screen(forged).recipient is None


def _as_elena(raw: bytes, tag: bytes) -> bytes:
    """Corpus 043 (a 2025 invitation with a personal note) from Elena Marsh instead of Marta Soares."""
    return _new_message_id(raw.replace(b"Marta Soares", b"Elena Marsh"), tag)


def test_replies_inboxbot_sent_teach_it_nobody(send_config, smtp):  # noqa: F811
    """The copy of an automatic reply filed in Sent is not mail the owner wrote: its recipient stays a stranger.
    Mail the owner did write still makes its recipient known."""
    client, make = send_config
    _, recorder = smtp
    cfg = make()
    client.append("INBOX", corpus_message("023"))  # Elena's sales pitch, 2011: the feedback reply is sent to her
    assert main(["once", "--config", str(cfg)]) == 0
    assert [rcpts for _, rcpts, _ in recorder.delivered] == [["elena@lumenbrand.example"]]
    assert len(folder_messages(client, "Sent")) == 1
    client.append("Sent", b"From: Robin Castellano <robin.castellano@example.net>\nTo: Marta Soares <marta@example.org>"
                          b"\nSubject: Lisbon\nMessage-ID: <own.1@example.net>\n\nSee you in March.\n")
    client.append("INBOX", _as_elena(corpus_message("043"), b"elena2"))
    client.append("INBOX", corpus_message("043"))
    assert main(["once", "--config", str(cfg)]) == 0
    accepted = [m["raw"] for m in folder_messages(client, "Invitations/Accept").values()]
    assert len(accepted) == 1 and b"Marta Soares" in accepted[0]  # Marta: the owner wrote to her; Elena: no
