"""The small frozen values that flow between the stages. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    ACCEPTANCE = "acceptance"
    OTHER = "other"


class Decision(str, Enum):
    ACCEPT = "accept"
    ASK = "ask"
    FEEDBACK = "feedback"
    DECLINE = "decline"
    QUARANTINE = "quarantine"
    IGNORE = "ignore"


LANGUAGES = ("en", "de", "es", "fr", "pt", "it", "nl", "id")  # the built-in replies' languages (English at top level)
TEMPLATES = ("where_did_we_meet", "confirm_meeting", "profile_question", "coffee_invite", "feedback", "open_question")


@dataclass(frozen=True)
class MessageRef:
    """Where a message lives: folder, the folder's UIDVALIDITY and the message's UID (or Maildir key)."""

    folder: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class RawMessage:
    ref: MessageRef
    raw: bytes
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Person:
    name: str | None = None
    headline: str | None = None
    location: str | None = None
    email: str | None = None
    profile_url: str | None = None
    # the DKIM signing domains (d=) whose every signature covers the header `email` was read from (a From or
    # Reply-To present once); empty for an address found in the note. Whether one of them is the network's, with a
    # pass in the trusted Authentication-Results header, policy decides (rules.vouched_address)
    email_signed_by: tuple[str, ...] = ()

    @property
    def first_name(self) -> str | None:
        if not self.name:
            return None
        return self.name.split()[0] if self.name.split() else None


@dataclass(frozen=True)
class AuthResult:
    """One Authentication-Results header (RFC 8601), reduced to what POLICY.md section 2 needs."""

    authserv_id: str
    dkim_pass: tuple[str, ...] = ()  # signing domains (header.d, or the domain of header.i) that passed
    dkim_results: tuple[str, ...] = ()  # every dkim result, e.g. "fail (linkedin.com)", for the reasons
    dmarc: str | None = None  # "pass", "fail", "none", ... or None when absent
    spf: str | None = None  # the first spf result, or None when absent


@dataclass(frozen=True)
class Evidence:
    """What the message shows about who sent it. Judged by policy (the `forged` rule), not here."""

    claimed: str | None = None  # the network the message claims to come from
    claim_reason: str = ""
    network_domains: tuple[str, ...] = ()
    dkim_domains: tuple[str, ...] = ()
    lookalike: str | None = None  # a domain that imitates the network's
    from_address: str = ""
    from_ok: bool = False  # From is at the network's own domains
    sender_ok: bool = False  # Sender is at the network's own domains (2011-2013 mail)
    foreign_links: tuple[str, ...] = ()  # accept/profile/confirm links that leave the network's hosts
    auth_results: tuple[AuthResult, ...] = ()  # top to bottom
    repeated_headers: tuple[str, ...] = ()  # From, Sender or Reply-To present more than once: a forgery
    sent: str | None = None  # the Date header as an ISO date (YYYY-MM-DD), None when missing or unreadable
    signed_since: str | None = None  # ISO date from which the claimed network signed its mail with DKIM


@dataclass(frozen=True)
class Invitation:
    """What parse/ makes of one message. Non-invitations have kind OTHER/ACCEPTANCE and few fields."""

    kind: Kind
    network: str | None
    inviter: Person = field(default_factory=Person)
    note: str | None = None
    note_is_default: bool = False
    mutual_connections: int | None = None
    language: str | None = None
    accept_url: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    message_id: str | None = None
    subject: str | None = None
    date: str | None = None
    no_auto_reply: str | None = None  # why RFC 3834 forbids an automatic answer (Auto-Submitted, List-*, ...)
    why_kind: str = ""  # a short reason for the kind, shown by explain
    error: str | None = None  # set when the message could not be read; kind is then OTHER
    doubts: tuple[str, ...] = ()  # parser self-checks that failed: a doubtful result goes to review, never a reply


@dataclass(frozen=True)
class RuleResult:
    rule: str
    hit: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    template: str | None
    reasons: tuple[str, ...]
    results: tuple[RuleResult, ...]
    matched: tuple[str, ...] = ()  # phrases that matched, for templates ("extra income", "met at")
    quote: str | None = None  # the sentence of the note that carries what the deciding rule read in it
    confidence: float | None = None  # how sure the note reader is (0..1); None when no note was read
    # what the note reader found besides the intent, for the templates: "family" (a family tie), "referral" (a
    # third person sent them), "when" / "where" (the note already says when / where they met), "content" (it cites
    # a post, talk, article or group of the owner's)
    facets: tuple[str, ...] = ()
    # the inviter's address the network vouches for (rules.vouched_address): the only one a reply may be addressed
    # to; None sends the draft to the owner, to paste
    recipient: str | None = None


@dataclass(frozen=True)
class Draft:
    """A reply ready to be appended to Drafts (or sent)."""

    to: str  # the To header as written
    subject: str
    body: str
    message_id: str
    raw: bytes
    to_address: str = ""  # the bare recipient address
    to_inviter: bool = False  # addressed to the inviter (sendable), not to the owner for pasting


@dataclass(frozen=True)
class NetworkMessage:
    """A network's notification that a member wrote to the owner ("Jane Doe sent you a message"), read out of a
    message that parse/ found to be the network's but no invitation (parse/messages.py)."""

    network: str
    sender: Person  # as the network shows them: name, headline, profile link
    text: str | None  # what they wrote, greeting and sign-off dropped
    language: str | None = None
    why: str = ""  # what made it a message notification
    doubts: tuple[str, ...] = ()  # what could not be read (no sender, no text): such a message is not matched


@dataclass(frozen=True)
class AnswerReading:
    """What an inviter's answer says (answers.read_answer). `intent` uses the note reader's words: claim, purposeful,
    pitch, recruiter, compliment, generic."""

    intent: str
    summary: str  # for people: 'confirms a meeting or tie: "we met at the Lyon conference"'
    advice: str  # "consider accepting", ... -- the owner decides, inboxbot never accepts
    quote: str | None = None  # the sentence of the answer that carries what was read in it
