"""Tests for changes a mutation check found that no other test caught: each one fails on the mutated line.

- rules.assess: a DKIM signature of a domain that merely ends in the network's name (fakelinkedin.com) counts;
  the 2011-2013 "own address through the network" exception accepted without a DKIM pass.
- Ledger.replied_to: the time window inverted. Ledger.handled_message_id: an error record not counted as handled.
  Ledger.sent_since: drafts counted as sent.
"""
from __future__ import annotations

import time
from dataclasses import replace

from inboxbot.model import AuthResult, Decision, Evidence, Invitation, Kind, MessageRef, Person, Verdict
from inboxbot.policy.rules import assess
from inboxbot.store import DONE, DRAFTED, ERROR, Ledger

SIGNED = Evidence(claimed="linkedin", network_domains=("linkedin.com",), dkim_domains=("linkedin.com",),
                  from_address="invitations@linkedin.com", from_ok=True,
                  auth_results=(AuthResult("mx.example", ("linkedin.com",), ("pass (linkedin.com)",), "pass"),))


def _signed_by(domain: str) -> Evidence:
    return replace(SIGNED, auth_results=(AuthResult("mx.example", (domain,), (f"pass ({domain})",), "pass"),))


class TestDkimDomain:
    def test_a_subdomain_of_the_network_counts(self):
        assert assess(_signed_by("e.linkedin.com"), ("mx.example",))[0]

    def test_a_domain_that_only_ends_in_the_name_does_not(self):
        authentic, reasons = assess(_signed_by("fakelinkedin.com"), ("mx.example",))
        assert not authentic and "no DKIM pass for linkedin.com" in reasons[0]


class TestOwnAddressThroughTheNetwork:
    """2011-2013: From is the inviter's own address, Sender is the network's; only a network signature vouches."""

    own = replace(SIGNED, from_address="jane@example.org", from_ok=False, sender_ok=True)

    def test_signed_passes(self):
        authentic, reasons = assess(self.own, ("mx.example",))
        assert authentic and any("the inviter's own address" in r for r in reasons)

    def test_unsigned_fails_even_with_the_network_as_sender(self):
        unsigned = replace(self.own, auth_results=(AuthResult("mx.example", (), ("none",), None),))
        authentic, reasons = assess(unsigned, ("mx.example",))
        assert not authentic and any("From jane@example.org is not at linkedin.com" in r for r in reasons)

    def test_no_header_at_all_fails(self):
        authentic, _ = assess(replace(self.own, auth_results=()))
        assert not authentic


INV = Invitation(kind=Kind.INVITATION, network="linkedin", message_id="<a@linkedin.com>",
                 inviter=Person(name="Jane Doe", profile_url="https://www.linkedin.com/in/jane"))
ASK = Verdict(Decision.ASK, "where_did_we_meet", ("collector: no note",), ())


def _ledger(tmp_path) -> Ledger:
    return Ledger(tmp_path / "state.sqlite3")


def test_replied_to_looks_back_not_forward(tmp_path):
    ledger = _ledger(tmp_path)
    first, second = MessageRef("INBOX", 1, "1"), MessageRef("INBOX", 1, "2")
    ledger.plan("acct", first, INV, ASK, inviter_key="li:jane", target_folder=None,
                draft_message_id="<inboxbot.x@example.net>", state=DRAFTED)
    now = time.time()
    assert ledger.replied_to("acct", "li:jane", now - 3600, other_than=second) is not None
    assert ledger.replied_to("acct", "li:jane", now + 3600, other_than=second) is None  # too old for the window
    assert ledger.replied_to("acct", "li:jane", now - 3600, other_than=first) is None  # not its own record
    assert ledger.replied_to("acct", "li:someone-else", now - 3600, other_than=second) is None


def test_a_message_that_ended_in_error_counts_as_handled(tmp_path):
    ledger = _ledger(tmp_path)
    ref = MessageRef("INBOX", 1, "7")
    ledger.plan("acct", ref, INV, ASK, inviter_key="li:jane", target_folder=None, draft_message_id=None)
    assert ledger.handled_message_id("acct", INV.message_id) is None  # planned: not finished yet
    ledger.set_state("acct", ref, ERROR, error="refused three times")
    assert ledger.handled_message_id("acct", INV.message_id)["uid"] == "7"
    ledger.set_state("acct", ref, DONE)
    assert ledger.handled_message_id("acct", INV.message_id)["uid"] == "7"


def test_sent_since_counts_sent_replies_only(tmp_path):
    ledger = _ledger(tmp_path)
    for uid, reply in (("1", "draft"), ("2", "sent"), ("3", "sent"), ("4", None)):
        ref = MessageRef("INBOX", 1, uid)
        ledger.plan("acct", ref, replace(INV, message_id=f"<{uid}@linkedin.com>"), ASK, inviter_key=f"k{uid}",
                    target_folder=None, draft_message_id=None)
        ledger.set_state("acct", ref, DONE, reply=reply)
    assert ledger.sent_since("acct", time.time() - 60) == 2
    assert ledger.sent_since("acct", time.time() + 60) == 0
