"""What every network module shares: the Network description, the registry, and text helpers."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from inboxbot.model import Kind, Person
from inboxbot.parse.mime import Mail

URL_RE = re.compile(r"https?://[^\s<>\"'\]\)]+", re.I)
EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
TRACKING_PARAMS = frozenset({
    "trk", "trkemail", "midtoken", "midsig", "lipi", "eid", "otptoken", "aref", "bcode", "sc_o", "sc_p", "medium",
    "mid", "n_m", "lloc", "authtype", "authtoken", "invacpt", "fromemail", "ut", "refparam", "utm_source",
    "utm_medium", "utm_campaign", "utm_content", "utm_term", "e", "li", "m", "ts", "loid", "t",
})
MACHINE_LOCALPARTS = re.compile(
    r"^(no-?reply|do-?not-?reply|notifications?|notify|invitations?|member|messages-noreply|mailrobot|"
    r"bounce|postmaster|mailer-daemon|hit-reply|inmail-hit-reply|jobs|news|info|support|security-noreply|"
    r".*-noreply|noreply-.*)$", re.I)


@dataclass(frozen=True)
class Fields:
    """What a network module read out of a message; parse/ turns it into an Invitation."""

    kind: Kind
    why_kind: str
    inviter: Person = field(default_factory=Person)
    note_text: str | None = None  # the note slot as written (may be a default note); None when empty
    mutual_connections: int | None = None
    accept_url: str | None = None
    action_links: tuple[str, ...] = ()  # accept/profile/confirm links, for the links-go-home check
    chrome_language: str | None = None  # the language of the network's own text, when it is not English


@dataclass(frozen=True)
class Network:
    """One social network: how to recognise its mail and how to read it."""

    name: str
    brand: str  # the word people see: "LinkedIn"
    domains: tuple[str, ...]  # sender and link hosts (and their subdomains)
    dkim_domains: tuple[str, ...]  # domains whose DKIM pass proves the mail is the network's
    header_prefixes: tuple[str, ...] = ()  # e.g. "X-LinkedIn-"
    subject_claims: tuple[re.Pattern, ...] = ()  # subjects only this network's notifications use
    # the first day from which all of the network's mail carries its DKIM signature: older mail with only SPF in a
    # trusted header is unverified, not a forgery
    signed_since: str | None = None
    read: Callable[[Mail], Fields] | None = None
    # why a message from elsewhere claims the network by its body alone (its layout and links), or None
    layout: Callable[[Mail], str | None] | None = None

    def owns_domain(self, domain: str) -> bool:
        return domain_in(domain, self.domains)


def domain_in(domain: str, domains: tuple[str, ...]) -> bool:
    domain = domain.lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in domains)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def strip_tracking(url: str, keep: frozenset[str] = frozenset()) -> str:
    """Drop tracking and session parameters from a URL (keeping those in `keep`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() in keep or k.lower() not in TRACKING_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def search_folded(pattern: re.Pattern, text: str) -> bool:
    """Whether a lower-case pattern occurs in text, ignoring case. ASCII text is lower-cased and searched
    case-sensitively, several times faster than IGNORECASE on an alternation; other text keeps IGNORECASE's
    Unicode matching (which also lets "i" match a dotless "ı")."""
    if text.isascii():
        return pattern.search(text.lower()) is not None
    return re.search(pattern.pattern, text, re.I) is not None


def urls_in(text: str) -> list[str]:
    return [u.rstrip(".,;") for u in URL_RE.findall(text)]


@lru_cache(maxsize=8192)  # the rules fold the same note and names again and again
def fold(text: str) -> str:
    """Normalise for comparison: NFKC, accents stripped, case-folded, whitespace and quotes folded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip().casefold()


def personal_address(address: str, networks_domains: tuple[str, ...]) -> str | None:
    """The address if it can belong to a person, else None (notification, noreply, network addresses)."""
    if not address or "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    if MACHINE_LOCALPARTS.match(local) or domain_in(domain, networks_domains):
        return None
    return address.lower()


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n")]


def strip_display_suffix(name: str) -> str:
    """'Jane Doe via LinkedIn' / 'Jim (via LinkedIn)' -> 'Jane Doe'."""
    return re.sub(r"\s*\(?\bvia\s+\w+\)?\s*$", "", name, flags=re.I).strip().strip('"').strip()
