"""Real published notifications parse to the right kind, network and fields."""
from __future__ import annotations

from pathlib import Path

import pytest

from inboxbot import config
from inboxbot.parse import parse
from inboxbot.policy.chain import build_chain
from tests.gmailapi import to_rfc822

HERE = Path(__file__).parent / "real_samples"
SHARED = Path(__file__).parent.parent.parent / "shared" / "real-samples"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared real-samples folder is not beside the repo")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text('[owner]\nname = "Paul Example"\nemail = "paul@example.com"\n')
    return build_chain(config.load(path, need_account=False))


def test_linkedin_2016_04_m2m_invitation(chain):
    inv = parse((HERE / "linkedin-2016-04-en.eml").read_bytes())
    assert (inv.kind.value, inv.network) == ("invitation", "linkedin")
    assert inv.inviter.name == "Steven Footle"
    assert inv.inviter.headline == "Principal Test Architect and Agile Leader - Certified ScrumMaster"
    assert inv.inviter.location == "Greater Boston Area"  # only in the HTML part
    assert "profile/view?id=AAsAAAAIW1gBCVPJFcvlZjm6AtEfNiLTNya_HqA" in inv.inviter.profile_url
    assert "trk=" not in inv.inviter.profile_url
    assert inv.note is None and inv.note_is_default
    verdict = chain.screen(inv)
    assert (verdict.decision.value, verdict.template) == ("ask", "where_did_we_meet")


def test_linkedin_2016_05_single01_invitation():
    inv = parse((HERE / "linkedin-2016-05-en.eml").read_bytes())
    assert (inv.kind.value, inv.network) == ("invitation", "linkedin")
    assert (inv.inviter.name, inv.inviter.headline) == ("Michael McAuliffe", "Managing Director")
    assert inv.inviter.location == "Charlotte, North Carolina Area"
    assert inv.note is None and inv.inviter.email is None


@needs_shared
def test_linkedin_2020_gmail_dump(chain):
    inv = parse(to_rfc822(SHARED / "linkedin-2020-en.gmailapi.json"))
    assert (inv.kind.value, inv.network) == ("invitation", "linkedin")
    assert (inv.inviter.name, inv.inviter.headline, inv.inviter.location) == ("Chiok Han Lee", "A Computer Guy",
                                                                              "Malaysia")
    assert inv.inviter.profile_url == "https://www.linkedin.com/in/chiokhanlee"
    assert "invite-accept/invitationId/" in inv.accept_url and "<div" not in inv.accept_url
    assert chain.authentic(inv) is True


@needs_shared
def test_linkedin_2020_acceptance_is_not_an_invitation(chain):
    inv = parse(to_rfc822(SHARED / "linkedin-accept-2020-en.gmailapi.json"))
    assert (inv.kind.value, inv.network) == ("acceptance", "linkedin")
    assert chain.screen(inv).decision.value == "ignore"


@needs_shared
def test_facebook_2020_friend_request(chain):
    inv = parse(to_rfc822(SHARED / "facebook-2020-en.gmailapi.json"))
    assert (inv.kind.value, inv.network, inv.inviter.name) == ("invitation", "facebook", "Chiok Han Lee")
    assert inv.inviter.profile_url == "https://www.facebook.com/chiokhan.lee.1"
    assert chain.authentic(inv) is True


@needs_shared
def test_spoofed_linkedin_efax_is_quarantined(chain):
    inv = parse((SHARED / "fake-linkedin-efax-2013-en.eml").read_bytes())
    assert inv.network == "linkedin" and chain.authentic(inv) is False
    assert chain.screen(inv).decision.value == "quarantine"


@needs_shared
def test_spam_lure_makes_no_network_claim(chain):
    inv = parse((SHARED / "spam-invitation-lure-2023-en.eml").read_bytes())
    assert (inv.kind.value, inv.network) == ("other", None)
    assert chain.screen(inv).decision.value == "ignore"
