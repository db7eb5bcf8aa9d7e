"""Self-checks on a parse result: does what the parser read look like what it is meant to be?

Each check is cheap (a few regular expressions over short fields), so they run on every invitation. A failed check is
a doubt, a sentence saying what looks wrong; a result with doubts goes to the owner for review instead of getting a
reply built on a field that may be misread.
"""
from __future__ import annotations

import re
from functools import lru_cache

from inboxbot import vocab
from inboxbot.model import Invitation
from inboxbot.parse.base import URL_RE, Network, domain_in, fold, host_of, strip_display_suffix
from inboxbot.parse.linkedin import heading_name, is_count, is_link_label

_SENTENCE = re.compile(r"[!?:;]\s*$|^[\"'\u201c\u201e\u00ab]|\S+\s+\S+\s+\S+\s+\S+.*\.$")
_WORD = re.compile(r"[^\W\d_]+")
_MAX_NAME_WORDS = 6
_VANITY = re.compile(r"/in/([^/?#]+)", re.I)
# the links of a notification (a person's note may link to a profile, never to these)
_NOTIFICATION_LINK = re.compile(r"/comm/|/e/v2\?|[?&](trk|trkemail|midtoken|lipi)=|invite-accept|accept-invitation|"
                                r"invitationid=", re.I)


@lru_cache(maxsize=1)
def _chrome() -> re.Pattern:
    """Sentences only the network writes, in every language."""
    return re.compile("|".join(f"(?:{c})" for c in vocab.entries("chrome")), re.I)


def doubts(inv: Invitation, display_name: str, recipient_name: str, network: Network) -> tuple[str, ...]:
    """What looks misread in an invitation's fields (empty when nothing does). display_name: the From header's;
    recipient_name: the To header's (the owner's own name is never the inviter's)."""
    found: list[str] = []
    person = inv.inviter
    if person.name and recipient_name and fold(person.name) == fold(recipient_name):
        found.append(f"the name is the recipient's: {person.name[:60]!r}")
    elif person.name:
        found += _name_doubts(person.name, network)
        if not found:
            found += _agreement(person.name, display_name, inv.subject or "", person.profile_url, network)
    if inv.note:
        found += _note_doubts(inv.note, person.headline, network)
    if person.headline and (is_network_text(person.headline) or is_link_label(person.headline)
                            or vocab.note_key(person.headline) in vocab.default_notes()):
        found.append(f"the headline is the network's own text: {person.headline[:60]!r}")
    for what, url in (("accept link", inv.accept_url), ("profile link", person.profile_url)):
        if url and not domain_in(host_of(url), network.domains):
            found.append(f"the {what} is not on {network.domains[0]}: {url[:60]}")
    return tuple(found)


def _name_doubts(name: str, network: Network) -> list[str]:
    if URL_RE.search(name) or "www." in name.lower():
        return [f"the name holds a link: {name[:60]!r}"]
    if is_network_text(name) or re.search(rf"\b{re.escape(network.brand)}\b", name, re.I):
        return [f"the name is the network's own text: {name[:60]!r}"]
    if _SENTENCE.search(name) or len(name.split()) > _MAX_NAME_WORDS:
        return [f"the name reads like a sentence: {name[:60]!r}"]
    return []


def _agreement(name: str, display_name: str, subject: str, profile_url: str | None, network: Network) -> list[str]:
    """Where the From name, the subject or the profile's address carry the inviter's name, the name read from the
    body must share a word with at least one of them."""
    words = {w for w in _WORD.findall(fold(name)) if len(w) > 1}
    if not words:
        return []
    witnesses = []
    shown = strip_display_suffix(display_name)
    if shown and not re.search(rf"\b{re.escape(network.brand)}\b", shown, re.I):
        witnesses.append(set(_WORD.findall(fold(shown))))
    named = heading_name(subject)
    if named:
        witnesses.append(set(_WORD.findall(fold(named.split(",")[0]))))
    slug = _VANITY.search(profile_url or "")
    if slug and re.search(r"[a-z]{3}", slug.group(1).lower()):
        vanity = fold(slug.group(1))
        if any(len(w) > 2 and w in vanity for w in words):
            return []
        witnesses.append(set())
    if not witnesses or any(words & seen for seen in witnesses):
        return []
    return [f"the name {name[:60]!r} matches neither the sender's name, the subject nor the profile address"]


def _note_doubts(note: str, headline: str | None, network: Network) -> list[str]:
    found = []
    home = [u for u in URL_RE.findall(note) if domain_in(host_of(u), network.domains) and _NOTIFICATION_LINK.search(u)]
    if home:
        found.append(f"the note holds the network's own link: {home[0][:60]}")
    lines = [ln.strip() for ln in note.split("\n") if ln.strip()]
    sentence = _chrome().search(note)  # once over the whole note; the line patterns line by line
    chrome = sentence.group(0) if sentence else next(
        (ln for ln in lines if heading_name(ln) or is_link_label(ln) or is_count(ln)), None)
    if chrome:
        found.append(f"the note holds the network's own text: {chrome[:60]!r}")
    if headline and fold(headline) in {fold(ln) for ln in lines}:
        found.append(f"the note holds the headline: {headline[:60]!r}")
    return found


def is_network_text(text: str) -> bool:
    """Whether text holds a sentence only the network writes (a heading naming the inviter, a reminder's words)."""
    return bool(_chrome().search(text)) or heading_name(text) is not None
