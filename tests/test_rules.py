"""Each screening rule on its own: a hit and a miss, and the reason a person reads."""
from __future__ import annotations

from dataclasses import replace

import pytest

from inboxbot import config
from inboxbot.model import AuthResult, Decision, Evidence, Invitation, Kind, Person
from inboxbot.policy.chain import build_chain
from inboxbot.policy.contacts import ContactBook
from inboxbot.policy.rules import RULES, Context, assess, is_generic

GOOD = Evidence(claimed="linkedin", network_domains=("linkedin.com",), dkim_domains=("linkedin.com",),
                from_address="invitations@linkedin.com", from_ok=True,
                auth_results=(AuthResult("mx.example", ("linkedin.com",), ("pass (linkedin.com)",), "pass"),))
BASE = Invitation(kind=Kind.INVITATION, network="linkedin", evidence=GOOD,
                  inviter=Person(name="Ada Lovelace", headline="Engineer at Analytical Engines",
                                 profile_url="https://www.linkedin.com/in/ada"))


def check(rule: str, inv: Invitation = BASE, ctx: Context = Context()):
    return RULES[rule].check(inv, ctx)


def note(text: str | None) -> Invitation:
    return replace(BASE, note=text)


def test_every_rule_has_a_name_and_a_description():
    assert list(RULES) == list(config.RULE_NAMES)
    assert all(rule.description and rule.name == name for name, rule in RULES.items())


class TestForged:
    def test_miss_when_signed(self):
        result = check("forged")
        assert not result.hit and "dkim=pass for linkedin.com" in result.reason

    def test_hit_on_lookalike(self):
        bad = replace(GOOD, lookalike="linkedln.com", from_ok=False, from_address="x@linkedln.com")
        result = check("forged", replace(BASE, evidence=bad))
        assert result.hit and "linkedln.com only looks like linkedin.com" in result.reason

    def test_only_the_topmost_trusted_header_counts(self):
        forged_top = AuthResult("mx.example", (), ("fail (linkedin.com)",), "fail")
        evidence = replace(GOOD, auth_results=(forged_top,) + GOOD.auth_results)
        authentic, reasons = assess(evidence, ("mx.example",))
        assert not authentic and "dmarc=fail" in reasons[0]
        other_first = (AuthResult("mx.attacker", ("linkedin.com",), (), "pass"), forged_top)
        assert not assess(replace(GOOD, auth_results=other_first), ("mx.example",))[0]

    def test_unverified_passes_unless_required(self):
        evidence = replace(GOOD, auth_results=())
        assert assess(evidence) == (True, ["not verified: no trusted Authentication-Results header"])
        assert not assess(evidence, require_dkim=True)[0]

    def test_foreign_links(self):
        evidence = replace(GOOD, foreign_links=("https://evil.example/accept",))
        assert "link to a foreign host: https://evil.example" in check("forged", replace(BASE, evidence=evidence)).reason

    def test_no_claim(self):
        assert check("forged", replace(BASE, evidence=Evidence())).reason == "makes no network claim"


def test_not_an_invitation():
    assert check("not-an-invitation", replace(BASE, kind=Kind.ACCEPTANCE, why_kind="an acceptance")).hit
    assert not check("not-an-invitation").hit


def test_blocked_and_known_contact():
    book = ContactBook()
    book.add_entry("@analytical.example", "policy.block")
    book.add_entry("Ada Lovelace", "contacts.vcf")
    hit = check("known-contact", ctx=Context(known=book))
    assert hit.hit and hit.reason == "name 'Ada Lovelace' is in contacts.vcf"
    assert not check("known-contact").hit
    by_domain = replace(BASE, inviter=replace(BASE.inviter, email="ada@analytical.example", name="X Y",
                                              email_signed_by=("linkedin.com",)))
    assert check("blocked", by_domain, Context(blocked=book)).reason == "email domain @analytical.example is in policy.block"
    unsigned = replace(by_domain, inviter=replace(by_domain.inviter, email_signed_by=()))  # e.g. from the note
    assert not check("blocked", unsigned, Context(blocked=book)).hit
    assert not check("blocked", ctx=Context(blocked=ContactBook())).hit


@pytest.mark.parametrize("headline, text, hit", [
    ("Senior Technical Recruiter at Acme", None, True),
    ("Personalvermittlerin bei Kessler", None, True),
    ("Engineer", "Soy reclutadora de perfiles digitales.", True),
    ("Head of Partnerships", "I'm hiring a team of product people.", False),
])
def test_recruiter(headline, text, hit):
    inv = replace(note(text), inviter=replace(BASE.inviter, headline=headline))
    assert check("recruiter", inv).hit is hit
    if hit:
        assert not check("recruiter", inv, Context(accept_recruiters=False)).hit


def test_recruiter_reason_says_what_matched():
    inv = replace(BASE, inviter=replace(BASE.inviter, headline="Talent Acquisition Partner"))
    assert check("recruiter", inv).reason == 'headline says "talent acquisition"'


@pytest.mark.parametrize("text, phrase", [
    ("Please visit my website to see what we do.", "visit my website"),
    ("Would you introduce me to contacts of yours?", "introduce me to"),
    ("Earn extra income from home!", "extra income"),
    ("Gerne stelle ich Ihnen unsere Anlageprodukte vor.", "anlageprodukte"),
])
def test_sales_pitch_hit(text, phrase):
    result = check("sales-pitch", note(text))
    assert result.hit and f'"{phrase}"' in result.reason


def test_sales_pitch_miss():
    assert not check("sales-pitch", note("I'm writing my thesis on pricing; could we compare notes?")).hit


@pytest.mark.parametrize("text, default, hit, reason", [
    (None, False, True, "no personal note"),
    (None, True, True, "only the network's default note"),
    ("Hi Robin, let's connect!", False, True, "nothing beyond a wish to connect"),
    ("Would be great to have you in my network.", False, True, "nothing beyond"),
    ("Great meeting you at the meetup.", False, False, "has a personal note"),
])
def test_collector(text, default, hit, reason):
    result = check("collector", replace(note(text), note_is_default=default))
    assert result.hit is hit and reason in result.reason


def test_claimed_acquaintance():
    result = check("claimed-acquaintance", note("We met at the Porto hackathon last weekend!"))
    assert result.hit and '"we met"' in result.reason
    assert check("claimed-acquaintance", note("Wir haben uns auf dem Energieforum kennengelernt.")).hit
    assert not check("claimed-acquaintance", note("Really enjoyed your talk on pricing.")).hit


def test_thin_connection():
    assert check("thin-connection", note("Really enjoyed your talk on pricing experiments.")).hit
    assert check("thin-connection", note("We are both members of the 'Supply Chain' group.")).hit
    asking = check("thin-connection", note("Enjoyed your talk on pricing. Would you have time for a call?"))
    assert not asking.hit and "also asks something" in asking.reason


def test_stranger_always_hits():
    assert check("stranger", note("Anything at all.")).hit


def test_is_generic():
    assert is_generic("Hallo, ich würde mich freuen, Sie in meinem Netzwerk zu haben.")
    assert not is_generic("I'm relocating to Lisbon and would value your advice on hiring.")


def _chain(tmp_path, body: str):
    path = tmp_path / "c.toml"
    path.write_text('[owner]\nemail = "me@example.com"\n' + body)
    return build_chain(config.load(path, need_account=False))


def test_chain_follows_the_config(tmp_path):
    collector = replace(note(None), inviter=replace(BASE.inviter, headline=None))
    assert _chain(tmp_path, "").screen(collector).template == "where_did_we_meet"
    declined = _chain(tmp_path, '[policy]\ncollectors = "decline"\n').screen(collector)
    assert (declined.decision, declined.template) == (Decision.DECLINE, None)
    switched_off = _chain(tmp_path, "[policy.rules.collector]\nenabled = false\n").screen(collector)
    assert switched_off.decision is Decision.ASK and switched_off.template == "coffee_invite"
    recruiter_pitch = replace(note("Visit my website for exclusive roles!"),
                              inviter=replace(BASE.inviter, headline="Recruiter"))
    assert _chain(tmp_path, "").screen(recruiter_pitch).decision is Decision.ACCEPT
    beats = _chain(tmp_path, "[policy]\npitch_beats_recruiter = true\n").screen(recruiter_pitch)
    assert beats.decision is Decision.FEEDBACK
    retemplated = _chain(tmp_path, '[policy.rules.thin-connection]\ntemplate = "coffee_invite"\n')
    assert retemplated.screen(note("Enjoyed your talk on pricing.")).template == "coffee_invite"


def test_verdict_lists_every_rule_that_ran(tmp_path):
    verdict = _chain(tmp_path, "").screen(note("Enjoyed your talk on pricing."))
    ran = list(config.RULE_NAMES[:config.RULE_NAMES.index("thin-connection") + 1])
    assert [r.rule for r in verdict.results] == ran
    assert [r.hit for r in verdict.results] == [False] * (len(ran) - 1) + [True]
    assert verdict.reasons[0].startswith("thin-connection: the note only compliments")


@pytest.mark.parametrize("text, headline, expected", [
    # a compliment that also claims a meeting: the claim is what needs checking
    ("Loved your talk at the summit, and great meeting you at the dinner afterwards!", None, "confirm_meeting"),
    # the network's default text followed by one personal sentence: the sentence decides
    ("I'd like to join your LinkedIn network. We worked together at Orbis Freight in 2014.", None, "confirm_meeting"),
    ("Hallo, gerne würde ich mich mit Ihnen vernetzen.", None, "where_did_we_meet"),
    ("Hi Robin!", None, "where_did_we_meet"),
    ("Nos conocimos en la conferencia de Madrid el año pasado.", None, "confirm_meeting"),
    ("Visita nuestra web para conocer nuestros servicios de marketing.", None, "feedback"),
    ("Would you be up for a call next week to talk about pricing research?", None, "coffee_invite"),
    ("Your newsletter is great. Could we talk about how you grew it?", None, "coffee_invite"),
    ("I help agencies double their leads.", "Senior Recruiter", None),  # recruiter first: accepted
])
def test_boundaries_between_rules(tmp_path, text, headline, expected):
    inv = replace(note(text), inviter=replace(BASE.inviter, headline=headline))
    verdict = _chain(tmp_path, "").screen(inv)
    assert verdict.template == expected, verdict.reasons
