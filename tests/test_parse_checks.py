"""The parser's self-checks one by one (each can fail), the doubtful rule in a chain written before it existed, and
authenticity said plainly."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from inboxbot import config
from inboxbot.model import AuthResult, Decision
from inboxbot.parse import linkedin, parse
from inboxbot.parse.checks import doubts
from inboxbot.policy.chain import build_chain
from inboxbot.policy.rules import authenticity

CASES = Path(__file__).parent / "parse_cases" / "mail"
SURE = parse(next(CASES.glob("003-*.eml")).read_bytes())  # Tomasz Brandt's 2025 reminder, read right


def doubted(**changes) -> tuple[str, ...]:
    person = {k: v for k, v in changes.items() if k in ("name", "headline", "profile_url")}
    rest = {k: v for k, v in changes.items() if k not in person}
    inv = replace(SURE, inviter=replace(SURE.inviter, **person), **rest)
    return doubts(inv, "Tomasz Brandt", "Robin Castellano", linkedin.NETWORK)


def test_a_result_read_right_has_no_doubts():
    assert SURE.doubts == () and doubted() == ()


@pytest.mark.parametrize("changes, doubt", [
    ({"name": "https://www.linkedin.com/in/tomasz-brandt"}, "the name holds a link"),
    ({"name": "I'd like to join your LinkedIn network."}, "the name is the network's own text"),
    ({"name": "Tomasz is still waiting for your response"}, "the name is the network's own text"),
    ({"name": "Kita bertemu di Jakarta Tech Week bulan lalu."}, "the name reads like a sentence"),
    ({"name": "Robin Castellano"}, "the name is the recipient's"),
    ({"name": "Kita"}, "matches neither the sender's name"),
    ({"note": "Tomasz Brandt\nPlatform Engineer at Odra Logistics\n2 connections in common"},
     "the note holds the network's own text"),
    ({"note": "See https://www.linkedin.com/comm/mynetwork/invite-accept/invitationId/7/sharedKey/x/"},
     "the note holds the network's own link"),
    ({"note": "Hello!\nPlatform Engineer at Odra Logistics"}, "the note holds the headline"),
    ({"headline": "I'd like to join your LinkedIn network."}, "the headline is the network's own text"),
    ({"accept_url": "https://linkedin.secure-invite.example/comm/mynetwork/invite-accept/1"},
     "the accept link is not on linkedin.com"),
])
def test_each_check_catches_its_misread(changes, doubt):
    found = doubted(**changes)
    assert any(d.startswith(doubt) or doubt in d for d in found), found


def test_a_personal_note_with_a_profile_link_or_a_count_in_a_sentence_is_not_doubted():
    assert doubted(note="My profile is at https://www.linkedin.com/in/tomasz-brandt — we have "
                        "2 connections in common, so I thought I would ask.") == ()


def test_a_chain_from_before_the_doubtful_rule_gets_it_and_it_never_drafts(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[owner]\nemail = "me@example.com"\n[policy]\nchain = ["forged", "not-an-invitation", '
                    '"collector", "stranger"]\n[policy.rules.doubtful]\ntemplate = "coffee_invite"\n')
    chain = build_chain(config.load(path, need_account=False))
    assert [s.rule.name for s in chain.steps] == ["forged", "not-an-invitation", "doubtful", "collector", "stranger"]
    verdict = chain.screen(replace(SURE, doubts=("the name reads like a sentence: 'x'",)))
    assert (verdict.decision, verdict.template) == (Decision.ASK, None)
    assert verdict.reasons[0].startswith("doubtful: ") and "reads like a sentence" in verdict.reasons[0]
    path.write_text(path.read_text() + "enabled = false\n")
    assert "doubtful" not in [s.rule.name for s in build_chain(config.load(path, need_account=False)).steps]


def test_authenticity_verified_unverified_failed():
    evidence = SURE.evidence
    assert authenticity(evidence, ("mx.corpus.test",))[0] == "verified"
    assert authenticity(replace(evidence, auth_results=()))[0] == "unverified"
    assert authenticity(replace(evidence, auth_results=()), require_dkim=True)[0] == "failed"
    spf_only = (AuthResult("mx.corpus.test", spf="pass"),)
    before = replace(evidence, auth_results=spf_only, sent="2009-03-10")
    status, reasons = authenticity(before, ("mx.corpus.test",))
    assert status == "unverified" and "before linkedin signed its mail" in reasons[0]
    # the same SPF-only header on mail from when LinkedIn signed everything: a forgery
    assert authenticity(replace(before, sent="2016-03-10"), ("mx.corpus.test",))[0] == "failed"
    assert authenticity(replace(before, from_ok=False), ("mx.corpus.test",))[0] == "failed"
