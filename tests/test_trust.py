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


def _nested_forgery(depth: int) -> bytes:
    """A message that claims LinkedIn (From invitations@linkedin.com, no signature) wrapped in `depth` multiparts."""
    body = b"Content-Type: text/plain\n\nHi Robin, accept: https://linkedin.evil.example/accept\n"
    for level in range(depth, 0, -1):
        body = (b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (level, level)) + body + \
            (b"\n--b%d--\n" % level)
    return (b"From: Ann Eve <invitations@linkedin.com>\nTo: robin.castellano@example.net\n"
            b"Subject: I want to connect\nMessage-ID: <nested.1@evil.example>\nMIME-Version: 1.0\n") + body


def test_a_forgery_cannot_hide_behind_a_handled_message_id_or_deep_nesting(dovecot, imap_user, tmp_path, monkeypatch):
    """A duplicate is the same Message-ID and the same content: a forgery reusing the Message-ID of a message
    already handled is screened (and quarantined). Unreadable mail that claims a network is quarantined too."""
    from tests.conftest import PASSWORD
    from tests.test_imap_once import write_config
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    cfg = write_config(tmp_path, dovecot, imap_user)
    genuine = corpus_message("027")
    client.append("INBOX", genuine)
    assert main(["once", "--config", str(cfg)]) == 0
    message_id = parse.parse(genuine).message_id.encode()
    forgery = corpus_message("064")  # From a look-alike of linkedin.com
    forgery = forgery.replace(parse.parse(forgery).message_id.encode(), message_id)
    assert parse.parse(forgery).message_id == message_id.decode()
    client.multiappend("INBOX", [forgery, genuine, _nested_forgery(1000)])  # the genuine copy: a true duplicate
    assert main(["once", "--config", str(cfg)]) == 0
    suspicious = folder_messages(client, "Invitations/Suspicious")
    assert len(suspicious) == 2
    assert any(b"linkedln" in m["raw"] for m in suspicious.values())
    assert any(b"<nested.1@evil.example>" in m["raw"] for m in suspicious.values())
    inbox = folder_messages(client, "INBOX")
    assert len(inbox) == 1 and next(iter(inbox.values()))["raw"].replace(b"\r\n", b"\n") == genuine
    assert len(folder_messages(client, "Drafts")) == 1
    client.logout()


@pytest.mark.parametrize("name", [
    "Ger\u200dald Plunkett", "Gerald\u200c Plunkett", "Ger\u00adald Plunkett", "Gera\u034fld Plunkett",
    "G\u0435rald Plunkett",  # Cyrillic е
    "Gerald Plunk\u0435tt\u200b", "GERALD PLUNK\u0395TT",  # Greek Epsilon
    "Gerald J. Plunk\u0435tt",  # and a middle name
])
def test_invisible_characters_and_look_alikes_do_not_dodge_the_block_list(chain, name):
    """010: Gerald Plunkett is blocked by name, and his profile is in Connections.csv (which would accept him)."""
    inv = parse.parse(corpus_message("010"))
    verdict = chain.screen(replace(inv, inviter=replace(inv.inviter, name=name)))
    assert verdict.decision is Decision.DECLINE, verdict.reasons


@pytest.mark.parametrize("name", ["H\u0430nnah O'Connell", "Hannah O'C\u043econnell", "Jos\u0435 N\u00fa\u00f1ez"])
def test_a_look_alike_of_a_contacts_name_is_not_accepted_by_name(chain, name):
    """003 is José Núñez of contacts.vcf; a name that only looks like a contact's is not the contact."""
    inv = parse.parse(corpus_message("003"))
    lookalike = replace(inv, inviter=replace(inv.inviter, name=name, profile_url=None))
    assert chain.screen(lookalike).decision is not Decision.ACCEPT
    same = replace(inv, inviter=replace(inv.inviter, name="Jos\u00e9\u200b N\u00fa\u00f1ez", profile_url=None))
    assert chain.screen(same).decision is Decision.ACCEPT  # an invisible character changes nothing


def test_terminal_control_codes_in_a_note_never_reach_the_terminal(tmp_path, capsys):
    """explain's text output shows control characters escaped: a note cannot clear the screen, retitle the
    terminal or move the cursor."""
    raw = _with_note_prefix(corpus_message("043"), b"Hi\x1b[2J\x1b]0;owned\x07 \x9b31m there \xe2\x80\xae.")
    eml = tmp_path / "m.eml"
    eml.write_bytes(raw)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[owner]\nname = "Robin Castellano"\nemail = "robin.castellano@example.net"\n'
                   f'[replies]\nmode = "off"\n')
    assert main(["explain", "--config", str(cfg), str(eml)]) == 0
    out = capsys.readouterr().out
    assert "note: Hi" in out
    for char in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert char not in out
    assert "\\x1b[2J" in out  # escaped, so the owner sees what the note holds


def test_bidi_and_zero_width_characters_never_reach_a_draft_header(chain):
    """A name with a right-to-left override and zero-width characters: the Subject and the To display name are
    plain text."""
    from inboxbot.cli import make_composer
    composer = make_composer(config.load(CORPUS / "config.toml", need_account=False))
    inv = parse.parse(corpus_message("023"))
    hostile = "\u202eEl\u200bena\u2066\u200d Ma\u200ersh\u202c\u2069\ufeff"
    inv = replace(inv, inviter=replace(inv.inviter, name=hostile))
    verdict = chain.screen(inv)
    assert verdict.recipient == "elena@lumenbrand.example"
    draft = composer.compose(inv, verdict)
    msg = email.message_from_bytes(draft.raw, policy=default)
    assert msg["To"].addresses[0].display_name == "Elena Marsh"
    assert draft.to == "Elena Marsh <elena@lumenbrand.example>"
    # a paste-in draft names the inviter in its Subject
    pasted = composer.compose(inv, replace(verdict, recipient=None))
    subject = email.message_from_bytes(pasted.raw, policy=default)["Subject"]
    assert subject.startswith("Reply to Elena Marsh (LinkedIn): ") and pasted.subject == subject


def test_an_address_in_the_note_does_not_choose_who_the_inviter_is():
    """The key that says "answered before" is not the note's to choose (else a note naming another inviter's
    address would stop that inviter's reply)."""
    from inboxbot.worker import inviter_key
    signed = parse.parse(corpus_message("023"))
    assert inviter_key(signed) == "linkedin:elena@lumenbrand.example"
    in_note = replace(signed, inviter=replace(signed.inviter, name="Mallory Vance", email_signed_by=()))
    assert inviter_key(in_note) == "linkedin:mallory vance"


def test_log_lines_show_control_codes_escaped(tmp_path, capsys):
    """`run` logs every decision with the inviter's name, text from the mail: escaped like explain's output."""
    from inboxbot.cli import _setup_logging
    import argparse
    import logging
    _setup_logging(argparse.Namespace(log_format="text", debug=True, command="once"))
    try:
        logging.getLogger("inboxbot").info("message 1 invitation from %s", "Eve\x1b]0;owned\x07\u202e")
    finally:
        logging.getLogger("inboxbot").handlers[:] = []
    err = capsys.readouterr().err
    assert "Eve\\x1b]0;owned\\x07\\u202e" in err and "\x1b" not in err


def test_declining_an_invitation_never_teaches_an_address_from_its_note():
    """A stranger writes a victim's address into a note the owner declines: the block learned is the stranger's
    name and profile, not the victim's address. A signed 2011 address is learned as before."""
    from inboxbot.learning import BLOCK, learned_from
    from inboxbot.store import invitation_record
    settings = config.load(CORPUS / "config.toml", need_account=False)
    trusted = tuple(settings.security.trusted_authserv_ids)
    in_note = parse.parse(_with_note_prefix(corpus_message("043"), b"Write to me at victim@example.org."))
    assert in_note.inviter.email == "victim@example.org"  # the parser reads it, for the owner to see
    signed = parse.parse(corpus_message("023"))
    for inv, expected in ((in_note, None), (signed, "elena@lumenbrand.example")):
        row = {"invitation": invitation_record(inv), "inviter_key": "k", "decision": "ask"}
        entry = learned_from(row, "Invitations/Declined", BLOCK, trusted)
        assert entry.email == expected and entry.name == inv.inviter.name
