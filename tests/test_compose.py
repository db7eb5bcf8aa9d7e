"""Replies: templates in the sandbox, overrides, language variants, and header safety."""
from __future__ import annotations

import email
from dataclasses import replace
from email.header import Header
from email.policy import default

import pytest
from hypothesis import given, settings, strategies as st

from inboxbot.compose import (Composer, Owner, _encoded, body_digest, company_of, draft_digest, join_or,
                              role_of)
from inboxbot.errors import TemplateError
from inboxbot.model import Decision, Invitation, Kind, Person, Verdict

OWNER = Owner("Robin Castellano", "robin@example.net")
INV = Invitation(kind=Kind.INVITATION, network="linkedin", message_id="<n1@linkedin.com>", language="en",
                 note="Great meeting you at the Lisbon meetup!",
                 inviter=Person(name="Ada Lovelace", headline="Engineer at Analytical Engines", location="London",
                                profile_url="https://www.linkedin.com/in/ada"),
                 accept_url="https://www.linkedin.com/comm/mynetwork/invite-accept/invitationId/1/sharedKey/x/")


def verdict(template: str, decision: Decision = Decision.ASK) -> Verdict:
    return Verdict(decision, template, (f"rule: {template}",), (), ("met at",))


def parsed(draft) -> email.message.EmailMessage:
    return email.message_from_bytes(draft.raw, policy=default)


@pytest.mark.parametrize("template", ["where_did_we_meet", "confirm_meeting", "profile_question", "coffee_invite",
                                      "feedback"])
def test_every_template_renders_a_specific_draft(template):
    draft = Composer(OWNER).compose(INV, verdict(template))
    msg = parsed(draft)
    assert msg["To"].addresses[0].addr_spec == "robin@example.net"  # no own address: to the owner, to paste
    assert msg["In-Reply-To"] == "<n1@linkedin.com>" and not [h for h in msg.keys() if h.startswith("X-")]
    body = msg.get_content()
    assert body.startswith("[inboxbot] Ada Lovelace can only be reached on LinkedIn")
    assert "https://www.linkedin.com/in/ada" in body and "Hi Ada," in body and body.rstrip().endswith("Robin")
    # the network's page for invitations, never the notification's one-click accept link
    assert "https://www.linkedin.com/mynetwork/invitation-manager/" in body and "invite-accept" not in body
    assert msg["Subject"].startswith("Reply to Ada Lovelace (LinkedIn): ")


def test_specific_details_reach_the_text():
    assert "Engineer at Analytical Engines" in Composer(OWNER).compose(INV, verdict("profile_question")).body
    assert "Lisbon meetup" in Composer(OWNER).compose(INV, verdict("confirm_meeting")).body
    coffee = Composer(OWNER, meeting_options=("a coffee", "a call")).compose(INV, verdict("coffee_invite")).body
    assert "a coffee or a call" in coffee
    german = Composer(OWNER, meeting_options={"de": ("einen Tee", "einen Spaziergang")})
    assert "Lust auf einen Tee oder einen Spaziergang?" in german.compose(replace(INV, language="de"),
                                                                          verdict("coffee_invite")).body


def test_only_the_vouched_address_gets_the_reply():
    inv = replace(INV, inviter=replace(INV.inviter, email="ada@example.org"))
    vouched = replace(verdict("where_did_we_meet"), recipient="ada@example.org")
    draft = Composer(OWNER).compose(inv, vouched)
    assert draft.to_inviter and draft.to_address == "ada@example.org" and "[inboxbot]" not in draft.body
    # an address the screening did not vouch for (the note's, an unsigned Reply-To) is shown, never addressed
    draft = Composer(OWNER).compose(inv, verdict("where_did_we_meet"))
    assert not draft.to_inviter and draft.to_address == "robin@example.net"
    assert "ada@example.org" in draft.body.split("-- reply --")[0]


def test_language_variants():
    de = replace(INV, language="de", note="Wir haben uns in Leipzig kennengelernt.")
    assert parsed(Composer(OWNER).compose(de, verdict("confirm_meeting")))["Subject"].endswith("(LinkedIn): Schön, von Ihnen zu hören")
    es = replace(INV, language="es")
    assert "¿De qué nos conocemos?" in Composer(OWNER).compose(es, verdict("where_did_we_meet")).subject
    fr = replace(INV, language="fr")
    assert "où nous sommes-nous rencontrés ?" in Composer(OWNER).compose(fr, verdict("where_did_we_meet")).body
    unknown = replace(INV, language="sv")  # no Swedish templates: the owner's language
    assert "Wo" in Composer(replace(OWNER, language="de")).compose(unknown, verdict("where_did_we_meet")).subject


def test_hostile_values_are_data():
    hostile = replace(INV, note="{{ 7*7 }} {% for x in y %}x{% endfor %} <script>alert(1)</script>",
                      inviter=replace(INV.inviter, name="Eve\r\nBcc: all@example.org", email="eve@example.org\r\nX: y"))
    draft = Composer(OWNER).compose(hostile, verdict("coffee_invite"))
    msg = parsed(draft)
    assert "{{ 7*7 }}" in msg.get_content() and "49" not in msg.get_content()
    assert msg["Bcc"] is None and msg["X"] is None
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert msg["To"].addresses[0].addr_spec == "robin@example.net"  # not a valid address: to the owner
    headline = replace(INV, note=None, inviter=replace(INV.inviter, headline="Engineer {{ 7*7 }} | {% raw %}"))
    body = Composer(OWNER).compose(headline, verdict("profile_question")).body
    assert "Engineer {{ 7*7 }} | {% raw %}" in body and "49" not in body


def test_user_templates_override_by_name(tmp_path):
    (tmp_path / "where_did_we_meet.txt.j2").write_text("Subject: Hello {{ inviter.first_name }}\n\nMy own words.\n")
    draft = Composer(OWNER, tmp_path).compose(INV, verdict("where_did_we_meet"))
    assert draft.subject.endswith(": Hello Ada") and draft.body.endswith("My own words.\n")


@pytest.mark.parametrize("text, problem", [
    ("Subject: x\n\n{{ inviter.nmae }}\n", "has no attribute 'nmae'"),
    ("Subject: x\n\n{% if %}\n", "line 3"),
    ("no subject line\n", 'must start with a "Subject: …" line'),
])
def test_template_mistakes_are_start_up_errors(tmp_path, text, problem):
    (tmp_path / "feedback.txt.j2").write_text(text)
    with pytest.raises(TemplateError, match=problem.replace("(", r"\(").replace("?", r"\?")):
        Composer(OWNER, tmp_path)


def test_sandbox_blocks_attribute_tricks(tmp_path):
    (tmp_path / "feedback.txt.j2").write_text("Subject: x\n\n{{ inviter.__class__.__mro__ }}\n")
    with pytest.raises(TemplateError):
        Composer(OWNER, tmp_path)


def test_helpers():
    assert join_or(["a coffee", "a meal", "a call"]) == "a coffee, a meal or a call"
    assert join_or(["x"]) == "x"
    assert company_of("Data Lead at Tidewater Analytics") == "Tidewater Analytics"
    assert role_of("Teamleiterin Einkauf bei Alpenfracht AG") == "Teamleiterin Einkauf"
    assert company_of("Web3 Community Builder | DeFi Educator") is None


def test_a_broken_message_id_is_not_referenced():
    inv = replace(INV, message_id="<bad\ufffd id@example>")
    msg = parsed(Composer(OWNER).compose(inv, verdict("where_did_we_meet")))
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_a_drafts_fingerprint_survives_the_server_and_notices_an_edit():
    draft = Composer(OWNER).compose(replace(INV, note="Ça va? — naïve “quotes” " + "long line " * 20),
                                    verdict("profile_question"))
    assert draft_digest(draft.raw) == body_digest(draft.body)
    assert b"\n" not in draft.raw.replace(b"\r\n", b"")  # CRLF only: servers such as Cyrus refuse bare LF
    stored = draft.raw.replace(b"\r\n", b"\n")  # as a Maildir keeps it
    assert draft_digest(stored) == body_digest(draft.body)
    edited = parsed(draft)
    edited.set_content(edited.get_content() + "PS: see you Tuesday\n")
    assert draft_digest(edited.as_bytes()) != body_digest(draft.body)


def test_a_replay_draft_for_another_template_gets_another_message_id():
    ask, feedback = (Composer(OWNER).compose(INV, verdict(t)) for t in ("where_did_we_meet", "feedback"))
    assert ask.message_id != feedback.message_id
    assert ask.message_id == Composer(OWNER).compose(INV, verdict("where_did_we_meet")).message_id


_WORDS = st.lists(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=14),
                  max_size=12)


@settings(max_examples=1000, deadline=None)
@given(_WORDS)
def test_ascii_subjects_are_what_header_encoding_gives(words):
    value = " ".join(words)  # single-spaced, as clean_header_text leaves it
    assert _encoded(value) == Header(value, "us-ascii", maxlinelen=76).encode()
