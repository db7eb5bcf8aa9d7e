"""A reading check of the built-in replies: every template in every language, rendered against a varied set of
invitations, must have the mechanical qualities a careful reader expects (its language throughout, a capital after
the greeting, the inviter's name, no link that accepts, nothing machine-only, short enough to paste, CRLF)."""
from __future__ import annotations

import email
import itertools
import re
from dataclasses import replace
from email.policy import default

import pytest

from inboxbot.compose import PASTE_MARK, Composer, Owner, first_statement, is_far, pick_quote, too_old, whole_sentence
from inboxbot.model import LANGUAGES, TEMPLATES, Decision, Invitation, Kind, Person, Verdict

OWNER = Owner("Robin Castellano", "robin@example.net", "en", "Lisbon, Portugal")
# a few of each language's commonest words: the language whose words a reply uses most must be the one chosen
STOPWORDS = {
    "en": "the and you your to with for would have what where me my is it",
    "de": "und sie ihre ihr ich mit wir nicht sich auf der die das ein zu",
    "es": "que y el la usted su con para por me una un lo qué le",
    "fr": "vous et le la les je pour que avec une un votre nous pas",
    "pt": "você e o a que para com um uma se seu sua me não",
    "it": "che di e il la per con un una mi non le lei si suo",
    "nl": "u je de het een en van dat met voor ik we niet wat uw",
    "id": "saya anda dan yang di untuk dengan kita ini itu ada atau apa dari kalau",
}
ENGLISH = {"coffee", "call", "meeting", "thank", "thanks", "would", "where", "when", "your", "you", "the", "hi",
           "best", "regards", "with", "lunch"} - {"lunch"}  # "lunch" is Dutch too
QUOTES = r"“[^”]*”|„[^“]*“|«[^»]*»"

# language-neutral inviter data, so that every word of a reply is the template's own
PEOPLE = [
    Person(name="Ana Lopes", headline="Data Lead at Quantix", location="Lisbon, Portugal",
           profile_url="https://www.linkedin.com/in/ana-lopes?trk=public&authToken=abc123&id=7"),
    Person(name="Björn Øster", headline="CTO | Quantix", location="Berlin, Germany",
           profile_url="https://www.linkedin.com/in/bjorn"),
    Person(name="Siti", headline=None, location=None, profile_url=None),
]
NOTES = [  # (note, quote, facets, confidence)
    (None, None, (), None),
    ("Product Summit Lisboa 2024, Panel B, Stand 12.", "Product Summit Lisboa 2024, Panel B, Stand 12.",
     ("when", "where"), 0.9),
    ("Product Summit Lisboa 2024, Panel B, Stand 12.", None, ("family",), 0.8),
    ("Quantix Forum 2023, Session 4, Room 7.", "Quantix Forum 2023, Session 4, Room 7.", ("content",), 0.3),
]
ACCEPT = "https://www.linkedin.com/comm/mynetwork/invite-accept/invitationId/1/sharedKey/x/?otpToken=abc"


def invitations(language: str):
    for person, (note, quote, facets, confidence), reminder, own_address in itertools.product(
            PEOPLE, NOTES, (False, True), (False, True)):
        inv = Invitation(kind=Kind.REMINDER if reminder else Kind.INVITATION, network="linkedin",
                         inviter=replace(person, email="ana@example.org" if own_address else None), note=note,
                         language=language, accept_url=ACCEPT, message_id="<n1@linkedin.com>")
        yield inv, (quote, facets, confidence)


def words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.lower())


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(OWNER)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_reply_reads_right(composer, template, language):
    for inv, (quote, facets, confidence) in invitations(language):
        verdict = Verdict(Decision.ASK, template, ("rule: x",), (), ("referral fee",), quote=quote,
                          confidence=confidence, facets=facets)
        draft = composer.compose(inv, verdict)
        assert b"\n" not in draft.raw.replace(b"\r\n", b""), "CRLF only"
        msg = email.message_from_bytes(draft.raw, policy=default)
        assert not [h for h in msg.keys() if h.lower().startswith("x-")]
        body = msg.get_content().replace("\r\n", "\n")
        links = re.findall(r"https?://\S+", body)
        assert not [u for u in links if re.search(r"accept|token", u, re.I)], links
        reply = body.split(PASTE_MARK, 1)[1].strip() if PASTE_MARK in body else body.strip()
        if not draft.to_inviter:
            assert len(reply) <= 1900 and msg["Subject"].startswith(f"Reply to {inv.inviter.name} (LinkedIn): ")
            assert "https://www.linkedin.com/mynetwork/invitation-manager/" in body
        greeting, _, rest = reply.partition("\n\n")
        assert inv.inviter.first_name in greeting
        first = next(c for c in rest if c.isalpha())
        assert first.isupper(), rest[:40]
        own = words(re.sub(QUOTES, " ", reply.replace(inv.inviter.name, " ")))
        scores = {lang: sum(w in set(stop.split()) for w in own) for lang, stop in STOPWORDS.items()}
        assert max(scores, key=scores.get) == language, scores
        if language != "en":
            assert not ENGLISH & set(own), ENGLISH & set(own)
        assert "referral fee" not in reply  # a matched phrase is never printed


def test_what_the_note_said_is_not_asked_again(composer):
    inv = next(i for i, _ in invitations("en") if i.note)
    read = Verdict(Decision.ASK, "confirm_meeting", (), (), confidence=0.9)
    assert "when and where was it" in composer.compose(inv, read).body
    assert "where was it, and what" in composer.compose(inv, replace(read, facets=("when",))).body
    told = composer.compose(inv, replace(read, facets=("when", "where"))).body
    assert "what did we talk about back then" in told and "when" not in told.split("-- reply --")[1]
    unread = composer.compose(inv, replace(read, confidence=None)).body  # no note reader: one question for all
    assert "how do we know each other?" in unread and "when" not in unread.split("-- reply --")[1]
    family = composer.compose(inv, replace(read, facets=("family",))).body
    assert "the family connection?" in family and "what did we talk about" not in family


def test_only_a_call_for_someone_far_away(composer):
    near, far = (Invitation(kind=Kind.INVITATION, network="linkedin", language="de", note="x y z w",
                            inviter=Person(name="Jana Berg", location=place)) for place in ("Lisboa", "Hamburg"))
    verdict = Verdict(Decision.ASK, "coffee_invite", (), ())
    assert "Lust auf ein Telefonat?" in composer.compose(far, verdict).body
    assert "einen Kaffee" in Composer(replace(OWNER, location="")).compose(far, verdict).body  # unknown: near
    assert is_far("Lisbon, Portugal", "Porto, Portugal") and not is_far("Lisbon, Portugal", "Greater Lisbon Area")
    assert "Kaffee" in Composer(replace(OWNER, location="Lisboa")).compose(near, verdict).body


def test_coffee_invite_quotes_the_request_without_praising_it(composer):
    note = ("Hi Robin! Our platform doubles revenue for teams like yours. I'd like to show you a demo next week. "
            "See https://x.example/accept?token=1 for details.")
    inv = Invitation(kind=Kind.INVITATION, network="linkedin", language="en", note=note,
                     inviter=Person(name="Max Weil"))
    body = composer.compose(inv, Verdict(Decision.ASK, "coffee_invite", (), (), ("show you a demo",))).body
    assert "“I'd like to show you a demo next week.”" in body
    assert not re.search(r"sounds|worth|great|interesting|exciting|impressive", body, re.I)
    assert "x.example" not in body


def test_kind_words_only_when_there_were_some(composer):
    inv = Invitation(kind=Kind.INVITATION, network="linkedin", language="en", inviter=Person(name="Lee Chan"),
                     note="We are both members of the Pricing Practitioners group.")
    verdict = Verdict(Decision.ASK, "profile_question", (), (), ("we are both members",))
    plain = composer.compose(inv, verdict).body
    assert "kind words" not in plain and "“We are both members of the Pricing Practitioners group.”" in plain
    assert "What drew you to it, and what are you working on yourself?" in plain
    kind = composer.compose(replace(inv, note="Really enjoyed your talk on pricing experiments."), verdict).body
    assert "kind words" in kind and "pricing experiments" in kind


def test_a_sure_note_reader_is_quoted_an_unsure_one_is_not(composer):
    inv = Invitation(kind=Kind.INVITATION, network="linkedin", language="en", inviter=Person(name="Lee Chan"),
                     note="We met at the Lisbon meetup in May, you gave me a great tip.")
    sure = Verdict(Decision.ASK, "confirm_meeting", (), (), quote="We met at the Lisbon meetup in May.",
                   confidence=0.9)
    assert "You wrote: “We met at the Lisbon meetup in May.”" in composer.compose(inv, sure).body
    assert "You wrote" not in composer.compose(inv, replace(sure, confidence=0.2)).body


def test_pick_quote_takes_the_sentence_that_carries_the_request():
    note = "Hi Robin,\nI run a studio in Porto. Would you introduce me to your logistics contacts? Thanks!"
    assert pick_quote(note, ("introduce me to",)) == "Would you introduce me to your logistics contacts?"
    assert pick_quote(note) == "I run a studio in Porto."
    assert pick_quote("Visit www.example.com for more. Call me at x@y.example now.") is None
    assert pick_quote(None) is None
    assert pick_quote("We meet monthly to talk through:\n- pricing\n- hiring") == "We meet monthly to talk through …"


def test_too_old():
    now = 1_800_000_000.0
    assert not too_old("Mon, 12 Jan 2027 10:00:00 +0000", 30, now)
    assert too_old("Mon, 22 Aug 2011 10:44:51 +0000", 30, now)
    assert too_old(None, 30, now) and too_old("not a date", 30, now)  # unknown age: no reply
    assert not too_old("Mon, 22 Aug 2011 10:44:51 +0000", 0, now)  # 0: no limit


def test_a_nameless_inviter_and_quotes_inside_a_quote(composer):
    inv = Invitation(kind=Kind.INVITATION, network="xing", language="de", inviter=Person(name=""),
                     note="Wir sind beide Mitglieder der Gruppe „Einkauf & Logistik“ hier.")
    body = composer.compose(inv, Verdict(Decision.ASK, "profile_question", (), ("mitglieder der gruppe",))).body
    assert "\n\nHallo,\n\nIhre Einladung" in body
    assert "„Wir sind beide Mitglieder der Gruppe ‚Einkauf & Logistik‘ hier.“" in body


def test_a_quoted_part_of_a_sentence_is_quoted_whole():
    """The reader may cut at a dash; the reply quotes the thought as the inviter wrote it, never a link."""
    note = "Hi Robin! I'm Clara Whitmore's nephew — she says you two were neighbours in Bristol. Talk soon"
    assert whole_sentence(note, "she says you two were neighbours in Bristol.") == \
        "I'm Clara Whitmore's nephew — she says you two were neighbours in Bristol."
    linked = "We met at the expo — my deck is at www.deck.example, have a look."
    assert whole_sentence(linked, "We met at the expo") == "We met at the expo"
    assert whole_sentence(note, None) is None and whole_sentence(None, "x") == "x"
    long = "I'm writing my master's thesis on pricing for B2B marketplaces and I'm looking for people to compare notes."
    assert whole_sentence(long, long[:60] + "…") == long  # the reader's cut quote is quoted whole


def test_coffee_invite_quotes_what_the_note_is_about_not_its_request_for_a_meeting():
    """The reply offers a coffee itself: it quotes the purpose, not "would you be up for a coffee?" again."""
    note = "Hi Robin! I'm moving to Lisbon to lead a data team. Would you be up for a coffee?"
    assert first_statement(note) == "I'm moving to Lisbon to lead a data team."
    assert first_statement("Coffee? Soon?") is None
    composer = Composer(Owner("Robin Castellano", "robin@example.net"))
    inv = Invitation(Kind.INVITATION, "linkedin", Person(name="Marta Soares"), note=note, language="en")
    asking = Verdict(Decision.ASK, "coffee_invite", ("stranger: a note",), (),
                     quote="Would you be up for a coffee?", confidence=0.9)
    body = composer.compose(inv, asking).body
    assert "I'm moving to Lisbon to lead a data team." in body and "Would you be up for a coffee?”" not in body
    confirm = Verdict(Decision.ASK, "confirm_meeting", ("claimed-acquaintance: x",), (),
                      quote="Would you be up for a coffee?", confidence=0.9)
    assert "Would you be up for a coffee?" in composer.compose(inv, confirm).body  # only coffee_invite changes
