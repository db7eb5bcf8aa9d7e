"""The screening rules of POLICY.md section 3: small named units, each answering one question with a reason.

A rule's `check` returns a Check (hit or miss, a reason a person can read, the phrases that matched). What a hit
decides (decision, template) is data on the rule, overridable from config; the chain (chain.py) runs them in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from inboxbot import vocab
from inboxbot.model import AuthResult, Decision, Evidence, Invitation, Kind, Person
from inboxbot.notes.reader import NoteReading, read_note
from inboxbot.parse.base import fold
from inboxbot.policy.contacts import ContactBook


@dataclass(frozen=True)
class Context:
    """Everything a rule may consult besides the invitation itself."""

    known: ContactBook = field(default_factory=ContactBook)
    blocked: ContactBook = field(default_factory=ContactBook)
    trusted_authserv_ids: tuple[str, ...] = ()
    require_dkim: bool = False
    accept_recruiters: bool = True


@dataclass(frozen=True)
class Check:
    hit: bool
    reason: str
    matched: tuple[str, ...] = ()
    reading: NoteReading | None = None  # the note reading the rule acted on (quote, confidence, facets)
    template: str | None = None  # replaces the step's reply: the neutral one when the reader is unsure


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    decision: Decision
    template: str | None = None

    def check(self, inv: Invitation, ctx: Context) -> Check:  # pragma: no cover - every rule overrides it
        raise NotImplementedError


def reading_of(inv: Invitation) -> NoteReading | None:
    """The note as read (cached by the reader: every rule asks for the same reading)."""
    return read_note(inv.note, inv.language, inv.inviter.first_name) if inv.note else None


def _reads_as(inv: Invitation, intent: str) -> NoteReading | None:
    """The reading, when it is this intent and the reader is sure of it."""
    reading = reading_of(inv)
    return reading if reading is not None and reading.intent == intent and reading.sure else None


def _quote(phrases: list[str] | tuple[str, ...], limit: int = 4) -> str:
    return ", ".join(f'"{p}"' for p in list(phrases)[:limit])


# --- authenticity (POLICY.md section 2) ----------------------------------------------------------------------

def assess(evidence: Evidence, trusted_ids: tuple[str, ...] = (), require_dkim: bool = False,
           ) -> tuple[bool, list[str]]:
    """(authentic, reasons) for a message that claims a network. Only the topmost (trusted) Authentication-Results
    header counts: deeper ones can be written by anyone."""
    status, reasons = authenticity(evidence, trusted_ids, require_dkim)
    return status != "failed", reasons


def authenticity(evidence: Evidence, trusted_ids: tuple[str, ...] = (), require_dkim: bool = False,
                 ) -> tuple[str, list[str]]:
    """("verified" | "unverified" | "failed", reasons): verified when a trusted header reports the network's DKIM
    pass and everything else holds; unverified when nobody checked the signature (no trusted header, or the
    network's mail from before it signed, with only SPF), the rest holding; failed otherwise."""
    if evidence.claimed is None:
        return "unverified", ["no network claim to verify"]
    failures: list[str] = []
    passes: list[str] = []
    if evidence.lookalike:
        failures.append(f"sender domain {evidence.lookalike} only looks like {evidence.network_domains[0]}")
    if evidence.repeated_headers:
        failures.append(f"it has more than one {evidence.repeated_headers[0]} header")
    header = _trusted_header(evidence, trusted_ids)
    dkim_ok = False
    if header is None:
        if require_dkim:
            failures.append("no trusted Authentication-Results header, and security.require_dkim is on")
        else:
            passes.append("not verified: no trusted Authentication-Results header")
    else:
        network_pass = _network_passes(header, evidence)
        if header.dmarc == "fail":
            failures.append(f"{header.authserv_id} reports dmarc=fail")
        if _before_signing(evidence, header) and not require_dkim:
            passes.append(f"not verified: {header.authserv_id} reports only spf={header.spf}, and the message is "
                          f"dated {evidence.sent}, before {evidence.claimed} signed its mail ({evidence.signed_since})")
        elif network_pass:
            dkim_ok = True
            passes.append(f"{header.authserv_id} reports dkim=pass for {network_pass[0]}")
        else:
            seen = ", ".join(header.dkim_results) or "no DKIM result"
            failures.append(f"{header.authserv_id} reports no DKIM pass for {evidence.dkim_domains[0]} ({seen})")
    if not evidence.from_ok:
        if evidence.sender_ok and dkim_ok:
            passes.append(f"From {evidence.from_address} is the inviter's own address, sent through "
                          f"{evidence.network_domains[0]} (signed)")
        else:
            failures.append(f"From {evidence.from_address or '(none)'} is not at {evidence.network_domains[0]}")
    if evidence.foreign_links:
        failures.append(f"link to a foreign host: {evidence.foreign_links[0][:80]}")
    if failures:
        return "failed", failures
    return ("verified" if dkim_ok else "unverified"), passes


def _before_signing(evidence: Evidence, header: AuthResult) -> bool:
    """Mail the network sent before it signed any: no DKIM or DMARC result, a passing SPF result, and a date before
    the network's first signatures."""
    return (not header.dkim_results and header.dmarc is None and header.spf == "pass" and evidence.from_ok
            and evidence.sent is not None and evidence.signed_since is not None
            and evidence.sent < evidence.signed_since)


def _trusted_header(evidence: Evidence, trusted_ids: tuple[str, ...]) -> AuthResult | None:
    trusted = [a for a in evidence.auth_results if not trusted_ids or a.authserv_id in {t.lower() for t in trusted_ids}]
    return trusted[0] if trusted else None


def _network_passes(header: AuthResult, evidence: Evidence) -> list[str]:
    return [d for d in header.dkim_pass if any(d == n or d.endswith("." + n) for n in evidence.dkim_domains)]


def vouched_address(inv: Invitation, trusted_ids: tuple[str, ...] = (), require_dkim: bool = False) -> str | None:
    """The inviter's address when the network itself vouches for it, else None: the message holds up, and the
    header the address is in is covered by a signature of the network that the trusted Authentication-Results
    header reports as passed (2011-2013 mail: the inviter's own From or Reply-To, sent through the network). An
    address from the note, or one in a header nobody signed, is the sender's word only."""
    person, evidence = inv.inviter, inv.evidence
    if not person.email or not person.email_signed_by or evidence.claimed is None:
        return None
    header = _trusted_header(evidence, trusted_ids)
    if header is None or not assess(evidence, trusted_ids, require_dkim)[0]:
        return None
    return person.email if set(_network_passes(header, evidence)) & set(person.email_signed_by) else None


def identity(inv: Invitation, ctx: Context) -> Person:
    """What identifies the inviter, for matching against contacts and the block list: the profile URL, the name
    and only an address the network vouches for, never one the sender merely wrote."""
    address = vouched_address(inv, ctx.trusted_authserv_ids, ctx.require_dkim)
    return inv.inviter if address == inv.inviter.email else replace(inv.inviter, email=address)


# --- the rules --------------------------------------------------------------------------------------------------

class Forged(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        if inv.evidence.claimed is None:
            return Check(False, "makes no network claim")
        if inv.error:
            return Check(True, f"claims {inv.evidence.claimed} but could not be read ({inv.error})")
        authentic, reasons = assess(inv.evidence, ctx.trusted_authserv_ids, ctx.require_dkim)
        if authentic:
            return Check(False, f"claims {inv.evidence.claimed} and holds up: " + "; ".join(reasons))
        return Check(True, f"claims {inv.evidence.claimed} but " + "; ".join(reasons))


class NotAnInvitation(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        if inv.kind in (Kind.INVITATION, Kind.REMINDER):
            return Check(False, f"{inv.kind.value}: {inv.why_kind}")
        if inv.error:
            return Check(True, f"could not be read ({inv.error})")
        return Check(True, f"{inv.kind.value}: {inv.why_kind}")


class Doubtful(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        if inv.doubts:
            return Check(True, "the parser is unsure of what it read, so no reply is built on it: "
                         + "; ".join(inv.doubts))
        return Check(False, "every field passed the parser's self-checks")


class Blocked(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        why = ctx.blocked.match(identity(inv, ctx), lookalikes=True)
        return Check(True, why) if why else Check(False, "not on the block list")


class KnownContact(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        why = ctx.known.match(identity(inv, ctx))
        return Check(True, why) if why else Check(False, f"{inv.inviter.name or 'the inviter'} is not a known contact")


class Recruiter(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        # the headline is the network's data: its words decide; a note must read as a recruiter's approach ("my dad
        # was a recruiter" does not)
        headline = inv.inviter.headline
        found = [f'headline says "{p}"' for p in (vocab.find("recruiter", fold(headline)) if headline else [])]
        reading = None if found else _reads_as(inv, "recruiter")  # the headline settles it: no need to read
        if reading is not None:
            found.append(f"the note {reading.reason}")
        if not found:
            return Check(False, "no recruiter wording in headline, and the note does not read as a recruiter's")
        if not ctx.accept_recruiters:
            return Check(False, f"recruiter ({found[0]}), but policy.accept_recruiters is off")
        return Check(True, "; ".join(found[:3]), tuple(found), reading)


class SalesPitch(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        reading = _reads_as(inv, "pitch")
        if reading is None:
            return Check(False, "the note sells nothing")
        return Check(True, f"the note {reading.reason}", reading.evidence, reading)


class Collector(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        if inv.note is None:
            if inv.note_is_default:
                return Check(True, f"only the network's default note ({inv.language or 'unknown language'})")
            return Check(True, "no personal note")
        reading = _reads_as(inv, "generic")
        if reading is not None:
            return Check(True, f"the note says nothing beyond a wish to connect: {reading.reason}", (), reading)
        return Check(False, "has a personal note")


class ClaimedAcquaintance(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        reading = _reads_as(inv, "claim")
        if reading is not None:
            return Check(True, f"the note claims a tie that cannot be checked: it {reading.reason}",
                         reading.evidence, reading)
        return Check(False, "claims no past meeting, call or tie")


class ThinConnection(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        reading = reading_of(inv)
        if reading is None:
            return Check(False, "no note")
        if reading.intent == "compliment" and reading.sure:
            return Check(True, f"the note only compliments or cites a group: it {reading.reason}",
                         reading.evidence, reading)
        if "content" in reading.facets:
            return Check(False, f"mentions your work but also asks something: it {reading.reason}")
        return Check(False, "the note is more than a compliment or a shared group")


class Stranger(Rule):
    def check(self, inv: Invitation, ctx: Context) -> Check:
        reading = reading_of(inv)
        if reading is None or reading.sure:
            why = f": it {reading.reason}" if reading is not None else ""
            return Check(True, f"a personal note from someone you do not know{why}", (), reading)
        # a reply that fits any stranger, never one that praises a note the reader could not make out
        return Check(True, f"the reader is unsure of this note, so the neutral open_question reply: it "
                           f"{reading.reason}", (), reading, "open_question")


def is_generic(note: str, first_name: str | None = None) -> bool:
    """A note that says nothing a default note doesn't: greetings, "let's connect", thanks, names."""
    reading = read_note(note, None, first_name)
    return reading.intent == "generic" and reading.sure


RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Forged("forged", "a message that claims a network but fails the authenticity checks", Decision.QUARANTINE),
    NotAnInvitation("not-an-invitation", "acceptances, InMail, alerts, newsletters and other mail are left alone",
                    Decision.IGNORE),
    Doubtful("doubtful", "the parser's self-checks failed on a field: the owner reviews it, nothing is drafted",
             Decision.ASK),
    Blocked("blocked", "the inviter's name, email, domain or profile is on policy.block", Decision.DECLINE),
    KnownContact("known-contact", "the inviter is in your contacts, policy.allow, or your Sent mail",
                 Decision.ACCEPT),
    Recruiter("recruiter", "headline or note says recruiter, talent acquisition, headhunter, sourcer or staffing",
              Decision.ACCEPT),
    SalesPitch("sales-pitch", "the note sells: money, products or services, a website, or your contacts",
               Decision.FEEDBACK, "feedback"),
    Collector("collector", "no personal note, only the network's default text, or a bare 'let's connect'",
              Decision.ASK, "where_did_we_meet"),
    ClaimedAcquaintance("claimed-acquaintance", "the note claims a meeting, a call, shared work or a family tie",
                        Decision.ASK, "confirm_meeting"),
    ThinConnection("thin-connection", "the note only compliments your work or cites a shared group",
                   Decision.ASK, "profile_question"),
    Stranger("stranger", "everyone else: a genuine note from someone you do not know", Decision.ASK,
             "coffee_invite"),
)}
