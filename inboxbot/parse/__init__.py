"""parse/: raw bytes -> Invitation. Pure, and it never raises: unreadable input becomes kind OTHER with an error.

One module per network (linkedin, facebook, xing, others), registered in NETWORKS; adding a network is one file
and one line here.
"""
from __future__ import annotations

import email.utils
import re
from dataclasses import replace
from functools import lru_cache

from rapidfuzz import fuzz, process

from inboxbot import vocab
from inboxbot.model import AuthResult, Evidence, Invitation, Kind, Person
from inboxbot.notes.language import detect_language
from inboxbot.parse import checks, facebook, linkedin, others, xing
from inboxbot.parse.authresults import parse_authentication_results
from inboxbot.parse.base import EMAIL_RE, Fields, Network, domain_in, host_of, personal_address
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
                          error=f"{type(exc).__name__}: {exc}"[:300], evidence=_claim_of_unreadable(raw))


def _claim_of_unreadable(raw: bytes) -> Evidence:
    """What a message that could not be read claims, from its header block alone (which reads without recursion):
    unreadable mail that claims a network is quarantined, never left unmarked."""
    try:
        network, reason = _claim(Mail.from_headers(raw))
    except Exception:
        return Evidence()
    if network is None:
        return Evidence(claim_reason=reason)
    return Evidence(claimed=network.name, claim_reason=reason, network_domains=network.domains,
                    dkim_domains=network.dkim_domains)


def claims_network(raw_headers: bytes) -> bool:
    """Whether a message (its header block is enough) may claim to come from a social network: only those need their
    body read. A filter in front of the full parse, which decides: it may say yes too often, never too rarely. A
    message can claim a network by its body alone (the network's layout and links), so one whose subject speaks of
    invitations or connecting is read whole too. Never raises."""
    try:
        head = raw_headers.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
        if _sender_domain_claims(head):
            return True  # nearly all network mail: no need to parse the headers to know
        subject = _SUBJECT_LINE.search(b"\n" + head)
        if subject and _speaks_of_invitations(subject.group(0)) and b"\nauto-submitted: auto-generated" in b"\n" + head:
            subject = None  # a machine's own report (RFC 3834; inboxbot's digest): not read for its subject alone
        if (subject and _speaks_of_invitations(subject.group(0))) or any(token in head for token in _NETWORK_TOKENS):
            return True  # the body may carry a network's layout: a claim only the full parse can see
        if b"=?" not in head:
            return False
        mail = Mail.from_headers(raw_headers)  # encoded words: what they say needs decoding
        return _claim(mail)[0] is not None or _speaks_of_invitations(mail.header("Subject").lower().encode())
    except Exception:
        return True  # unreadable headers: let the full parse decide and say why


_SUBJECT_LINE = re.compile(rb"\nsubject:.*(?:\r?\n[ \t].*)*")
# what the subject of a notification (or of a forgery dressed as one) speaks of, in the languages we read
_INVITATION_WORDS = (b"connect", b"invit", b"contact", b"kontakt", b"network", b"netzwerk", b"convite", b"invito",
                     b"undangan", b"uitnodiging", b"terhubung", b"collegar", b"conectar", b"friend", b"waiting")
_NETWORK_TOKENS = tuple(t.encode() for n in NETWORKS for t in {n.brand.lower(), n.domains[0].split(".")[0]})


def _speaks_of_invitations(subject: bytes) -> bool:
    return any(word in subject for word in _INVITATION_WORDS)
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
    if inviter.name and not _LETTER.search(inviter.name):
        inviter = replace(inviter, name=None)  # "???", "…": what a sender's client made of a name, not a name
    if inviter.email is not None:
        inviter = replace(inviter, email_signed_by=_signers_of(mail, inviter.email))
    elif note:
        inviter = _with_email_from_note(inviter, note)
    inv = Invitation(
        kind=fields.kind, network=network.name, inviter=inviter, note=note, note_is_default=is_default,
        mutual_connections=fields.mutual_connections, language=language, accept_url=fields.accept_url,
        evidence=_evidence(mail, network, claim_reason, fields), why_kind=fields.why_kind, **common)
    if inv.kind in (Kind.INVITATION, Kind.REMINDER):
        return replace(inv, doubts=checks.doubts(inv, mail.address("From")[0], mail.address("To")[0], network))
    return inv


_LETTER = re.compile(r"[^\W\d_]")


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
    forwarded = _FORWARDED_SUBJECT.match(subject)
    for net in NETWORKS:
        if not forwarded and any(p.search(subject) for p in net.subject_claims):
            return net, f"the subject is {net.brand}'s: {subject!r}"
    if forwarded or _FORWARD_MARK.search(mail.text if mail.text.strip() else mail.html):
        return None, "a person forwarding a message claims nothing"  # POLICY.md section 2: it is their own mail
    for net in NETWORKS:
        layout = net.layout(mail) if net.layout else None
        if layout:
            return net, layout
    return None, "no network's domain, headers, sender name, subject or layout"


_FORWARDED_SUBJECT = re.compile(r"^\s*(fwd?|fw|wg|tr|rv|enc|i|vs|doorst)\s*:", re.I)
_FORWARD_MARK = re.compile(
    r"-{2,}\s*(forwarded message|original message|weitergeleitete nachricht|urspr\u00fcngliche nachricht|"
    r"mensaje reenviado|message transf\u00e9r\u00e9|mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht|"
    r"pesan yang diteruskan)\s*-{2,}|begin forwarded message:", re.I)


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
    auth_results = tuple(_auth_results(mail))
    # the date matters only to a header with no DKIM result for a network that started signing at some date
    undated = net.signed_since is None or all(a.dkim_results for a in auth_results)
    return Evidence(
        claimed=net.name, claim_reason=claim_reason, network_domains=net.domains, dkim_domains=net.dkim_domains,
        lookalike=lookalike, from_address=from_addr, from_ok=bool(from_domain) and net.owns_domain(from_domain),
        sender_ok=bool(sender) and net.owns_domain(sender.rpartition("@")[2]), foreign_links=foreign,
        auth_results=auth_results, sent=None if undated else _sent(mail), signed_since=net.signed_since,
        repeated_headers=tuple(name for name in _SINGLE if len(mail.headers(name)) > 1))


_SIGNED_ONCE = ("From", "Reply-To")  # where a network puts the inviter's own address (2011-2013 mail)
_SINGLE = ("From", "Sender", "Reply-To")  # RFC 5322: at most one of each


def _signers_of(mail: Mail, address: str) -> tuple[str, ...]:
    """The DKIM signing domains whose every signature covers the one header (From or Reply-To) that holds the
    address. A signature covers a header its h= tag lists; a domain with a second signature that leaves the header
    out (a forger's copy beside the genuine one) vouches for nothing, and a header present twice is never covered."""
    header = next((name for name in _SIGNED_ONCE if mail.address(name)[1] == address), None)
    if header is None or len(mail.headers(header)) != 1:
        return ()
    covered: dict[str, bool] = {}
    for value in mail.headers("DKIM-Signature"):
        tags = _dkim_tags(value)
        domain = tags.get("d", "").lower().strip(".")
        if domain:
            signed = {name.strip().lower() for name in tags.get("h", "").split(":")}
            covered[domain] = covered.get(domain, True) and header.lower() in signed
    return tuple(domain for domain, ok in covered.items() if ok)


def _dkim_tags(value: str) -> dict[str, str]:
    """The tag=value list of a DKIM-Signature header (RFC 6376 3.2), folding whitespace removed."""
    tags: dict[str, str] = {}
    for item in value.split(";"):
        name, sep, tag_value = item.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), re.sub(r"\s+", "", tag_value))
    return tags


def _sent(mail: Mail) -> str | None:
    """The Date header as YYYY-MM-DD, or None."""
    try:
        return email.utils.parsedate_to_datetime(mail.header("Date")).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _auth_results(mail: Mail) -> list[AuthResult]:
    parsed = (parse_authentication_results(value) for value in mail.headers("Authentication-Results"))
    return [result for result in parsed if result is not None]


# --- the note ---------------------------------------------------------------------------------------------------

def _note(fields: Fields) -> tuple[str | None, bool, str | None]:
    """(note or None, whether the slot held a network default note, language)."""
    text = fields.note_text
    if not text:
        return None, False, fields.chrome_language
    default_language = vocab.default_notes().get(vocab.note_key(text)) or _loose_default(text)
    if default_language:
        return None, True, default_language
    return text, False, detect_language(text) or fields.chrome_language


_SENTENCE_BREAK = re.compile(r"\n|(?<=[.!?])\s+")
_LOOSE_RATIO = 90  # out of 100: a default note with a word or two changed, lost or glued, still is one
_LONGEST_LOOSE_DEFAULT = 300  # characters: the longest default note (113) with a reminder's heading or two


def _loose_default(text: str) -> str | None:
    """The language of a default note read loosely: without the network's own sentences glued to it (a reminder's
    "X is still waiting for your response."), and allowing for small differences. None when it is no default."""
    if len(text) > _LONGEST_LOOSE_DEFAULT:
        return None  # the network's sentences are short: a longer note is more than a default note with them
    language = _nearest_default(vocab.note_key(text))
    if language or not checks.is_network_text(text):
        return language
    kept = [s for s in _SENTENCE_BREAK.split(text) if s.strip() and not checks.is_network_text(s)]
    return _nearest_default(vocab.note_key(" ".join(kept)))


def _nearest_default(key: str) -> str | None:
    """The language of the default note within _LOOSE_RATIO of a note key, or None."""
    if not key:
        return None
    found = process.extractOne(key, vocab.default_notes().keys(), scorer=fuzz.ratio, score_cutoff=_LOOSE_RATIO)
    return vocab.default_notes()[found[0]] if found else None


def _with_email_from_note(inviter: Person, note: str) -> Person:
    for candidate in EMAIL_RE.findall(note):
        address = personal_address(candidate, ALL_DOMAINS)
        if address:
            return replace(inviter, email=address)
    return inviter
