"""parse/: raw bytes -> Invitation. Pure, and it never raises: unreadable input becomes kind OTHER with an error.

One module per network (linkedin, facebook, xing, others), registered in NETWORKS; adding a network is one file
and one line here.
"""
from __future__ import annotations

import email.utils
import re
from dataclasses import replace
from functools import lru_cache

from inboxbot import vocab
from inboxbot.model import AuthResult, Evidence, Invitation, Kind, Person
from inboxbot.notes.language import detect_language
from inboxbot.parse import facebook, linkedin, others, xing
from inboxbot.parse.authresults import parse_authentication_results
from inboxbot.parse.base import EMAIL_RE, Fields, Network, domain_in, fold, host_of, personal_address
from inboxbot.parse.mime import Mail, clean_header_text, decode_header_value

NETWORKS: tuple[Network, ...] = (linkedin.NETWORK, facebook.NETWORK, xing.NETWORK, others.TWITTER, others.MEETUP)
ALL_DOMAINS = tuple(d for n in NETWORKS for d in n.domains)

__all__ = ["parse", "claims_network", "recipients", "NETWORKS"]


def parse(raw: bytes) -> Invitation:
    """Read one message. Never raises."""
    try:
        return _parse(raw)
    except Exception as exc:  # the contract: any input gives an answer, never a crash
        return Invitation(kind=Kind.OTHER, network=None, why_kind="the message could not be read",
                          error=f"{type(exc).__name__}: {exc}"[:300])


def claims_network(raw_headers: bytes) -> bool:
    """Whether a message (its header block is enough) claims to come from a social network: only those need their
    body read. A message that claims nothing is `other`, whatever its body says. A filter in front of the full
    parse, which decides: it may say yes too often, never too rarely. Never raises."""
    try:
        head = raw_headers.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
        if _sender_domain_claims(head):
            return True  # nearly all network mail: no need to parse the headers to know
        return any(token in head for token in _CLAIM_TOKENS) and _claim(Mail.from_headers(raw_headers))[0] is not None
    except Exception:
        return True  # unreadable headers: let the full parse decide and say why


_CLAIM_TOKENS = tuple(t.encode() for n in NETWORKS for t in {n.brand.lower(), n.domains[0].split(".")[0]}) + (b"=?",)
# searched in "\n" + the block: a literal first character makes the scan several times faster than ^ with re.M
_ADDRESS_HEADER = re.compile(rb"\n(?:from|sender):.*(?:\r?\n[ \t].*)*")
_DOMAIN = re.compile(rb"@([a-z0-9][a-z0-9.-]*)")


def _sender_domain_claims(head: bytes) -> bool:
    """Whether a domain in the From or Sender header (of a lower-cased header block) is or imitates a network's.
    Without a network's name or an encoded word elsewhere, a message with none makes no claim (most of an inbox),
    found without parsing anything."""
    return any(_domain_claims(domain) for header in _ADDRESS_HEADER.findall(b"\n" + head)
               for domain in _DOMAIN.findall(header))


@lru_cache(maxsize=4096)  # an inbox's senders come from few domains
def _domain_claims(domain: bytes) -> bool:
    text = domain.decode("ascii", "replace").rstrip(".")
    return any(net.owns_domain(text) or _lookalike(text, net) for net in NETWORKS)


def recipients(raw_headers: bytes) -> list[tuple[str, str]]:
    """(address, display name) of every To/Cc recipient of a (sent) message's headers. Never raises."""
    try:
        mail = Mail.from_headers(raw_headers)
        values = [decode_header_value(v) for name in ("To", "Cc") for v in mail.headers(name)]
        pairs = email.utils.getaddresses(values)
    except Exception:
        return []
    return [(addr.strip().lower(), clean_header_text(name)) for name, addr in pairs if "@" in addr]


def message_id_of(raw_headers: bytes) -> str | None:
    """The Message-ID of a message's headers. Never raises."""
    try:
        return _message_id(Mail.from_headers(raw_headers))
    except Exception:
        return None


def _parse(raw: bytes) -> Invitation:
    mail = Mail.from_bytes(raw)
    network, claim_reason = _claim(mail)
    common = dict(message_id=_message_id(mail), subject=mail.header("Subject"), date=mail.header("Date") or None,
                  no_auto_reply=_no_auto_reply(mail))
    if network is None:
        return Invitation(kind=Kind.OTHER, network=None, why_kind="no social network claims this message",
                          evidence=Evidence(claim_reason=claim_reason), **common)
    fields: Fields = network.read(mail)
    note, is_default, language = _note(fields)
    inviter = fields.inviter
    if inviter.email is None and note:
        inviter = _with_email_from_note(inviter, note)
    return Invitation(
        kind=fields.kind, network=network.name, inviter=inviter, note=note, note_is_default=is_default,
        mutual_connections=fields.mutual_connections, language=language, accept_url=fields.accept_url,
        evidence=_evidence(mail, network, claim_reason, fields), why_kind=fields.why_kind, **common)


def _message_id(mail: Mail) -> str | None:
    value = mail.header("Message-ID")
    m = re.search(r"<[^<>\s]+>", value)
    return m.group(0) if m else (value or None)


def _no_auto_reply(mail: Mail) -> str | None:
    """RFC 3834: why a message must never get an automatic answer, or None."""
    auto = mail.header("Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = mail.header("Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    listed = next((h for h in mail.msg.keys() if h.lower().startswith("list-")), None)
    if listed:
        return f"it has a {listed} header (list mail)"
    if mail.has("Return-Path") and mail.header("Return-Path").strip() in ("<>", ""):
        return "its return path is empty (a bounce or a machine)"
    return None


# --- which network a message claims to be from (POLICY.md section 2) ---------------------------------------

def _claim(mail: Mail) -> tuple[Network | None, str]:
    display, from_addr = mail.address("From")
    _, sender = mail.address("Sender")
    subject = mail.header("Subject")
    for net in NETWORKS:
        for role, address in (("From", from_addr), ("Sender", sender)):
            domain = address.rpartition("@")[2]
            if domain and net.owns_domain(domain):
                return net, f"{role} address is at {domain}"
            if domain and _lookalike(domain, net):
                return net, f"{role} address {address} imitates {net.domains[0]}"
    for net in NETWORKS:
        present = [h for h in mail.msg.keys() if any(h.lower().startswith(p.lower()) for p in net.header_prefixes)]
        if present:
            return net, f"carries {net.brand}'s own header {present[0]}"
    for net in NETWORKS:
        if re.search(rf"\b{re.escape(net.brand)}\b", display, re.I):
            return net, f"the sender's name says {display!r}"
    for net in NETWORKS:
        if any(p.search(subject) for p in net.subject_claims):
            return net, f"the subject is {net.brand}'s: {subject!r}"
    return None, "no network's domain, headers, sender name or subject"


@lru_cache(maxsize=4096)  # an inbox's senders come from few domains, asked about again and again
def _lookalike(domain: str, net: Network) -> bool:
    """linkedln.com, linkedin.com.example.net, linkedin-mail.net, facebookmail.example: not the network's own."""
    labels = re.split(r"[.\-_]", domain.lower())
    for own in net.domains:
        token = own.split(".")[0]
        for label in labels:
            if label == token or (len(token) >= 6 and _distance_one(label, token)):
                return True
    return False


def _distance_one(a: str, b: str) -> bool:
    """True when a and b differ by exactly one substitution, insertion or deletion."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# --- authenticity evidence -----------------------------------------------------------------------------------

def _evidence(mail: Mail, net: Network, claim_reason: str, fields: Fields) -> Evidence:
    _, from_addr = mail.address("From")
    _, sender = mail.address("Sender")
    from_domain = from_addr.rpartition("@")[2]
    links = [u for u in fields.action_links if u]
    foreign = tuple(dict.fromkeys(u for u in links if not domain_in(host_of(u), net.domains)))
    lookalike = next((a.rpartition("@")[2] for a in (from_addr, sender)
                      if a and not net.owns_domain(a.rpartition("@")[2]) and _lookalike(a.rpartition("@")[2], net)),
                     None)
    return Evidence(
        claimed=net.name, claim_reason=claim_reason, network_domains=net.domains, dkim_domains=net.dkim_domains,
        lookalike=lookalike, from_address=from_addr, from_ok=bool(from_domain) and net.owns_domain(from_domain),
        sender_ok=bool(sender) and net.owns_domain(sender.rpartition("@")[2]), foreign_links=foreign,
        auth_results=tuple(_auth_results(mail)))


def _auth_results(mail: Mail) -> list[AuthResult]:
    parsed = (parse_authentication_results(value) for value in mail.headers("Authentication-Results"))
    return [result for result in parsed if result is not None]


# --- the note ---------------------------------------------------------------------------------------------------

def _note(fields: Fields) -> tuple[str | None, bool, str | None]:
    """(note or None, whether the slot held a network default note, language)."""
    text = fields.note_text
    if not text:
        return None, False, fields.chrome_language
    default_language = vocab.default_notes().get(vocab.note_key(text))
    if default_language:
        return None, True, default_language
    return text, False, detect_language(text) or fields.chrome_language


def _with_email_from_note(inviter: Person, note: str) -> Person:
    for candidate in EMAIL_RE.findall(note):
        address = personal_address(candidate, ALL_DOMAINS)
        if address:
            return replace(inviter, email=address)
    return inviter
