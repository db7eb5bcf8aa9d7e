"""Message notifications: a network telling the owner that a member wrote to them ("Jane Doe sent you a message",
"Neue Nachricht von Jane Doe", InMail). Pure. parse() finds such mail to be the network's and no invitation (kind
OTHER); this reads who wrote and what, so that an inviter's answer can be put beside their invitation.

The layouts read (LinkedIn 2016-2026, XING, Facebook): the sender's name in the subject or the From display name;
a card (name, headline) at the top of the text; the message; then action lines (Reply / View profile / Antworten)
and the footer. Only the network's own text is used to find the parts; the member's text is only read.
"""
from __future__ import annotations

import re

from inboxbot.model import Invitation, Kind, NetworkMessage, Person
from inboxbot.parse import detect_language, facebook, linkedin
from inboxbot.parse.base import fold, lines_of, strip_display_suffix, strip_tracking, urls_in
from inboxbot.parse.mime import Mail

# the subjects and lead-in lines of message notifications, en and de; group "name" is the sender
_SENT_YOU = re.compile(
    r"^(?:re:\s*)?(?:(?P<a>.+?) (?:sent you an? (?:new )?message|has sent you a message|hat Ihnen eine (?:neue )?"
    r"Nachricht (?:geschickt|gesendet)|hat dir eine (?:neue )?Nachricht (?:geschickt|gesendet))|"
    r"(?:new message from|neue Nachricht von|Nachricht von|message from) (?P<b>.+?))[.:!]?$", re.I)
_LINKEDIN_CLASSES = {"INMAIL", "MBR-TO-MBR"}
_LINKEDIN_TEMPLATES = re.compile(r"(inmail|messag)", re.I)
_FACEBOOK_NOTIFY = {"msg", "message", "messages", "messaging"}
# the network's action lines and footers: the message ends before the first of them
_ACTION = re.compile(
    r"^(reply|read and reply|view (the )?message|view/reply to this message|view conversation|view profile|antworten|"
    r"nachricht (lesen|ansehen)|zur nachricht|profil ansehen|see conversation|reply to .+|"
    r"you are receiving|this (email|message) was (intended|sent)|this is an inmail|unsubscribe|help:|"
    r"sie erhalten diese|diese (e-mail|nachricht) wurde|abmelden|©|\(c\) )\b", re.I)
_RULE = re.compile(r"^[-=_.]{3,}$")
_GREETING = re.compile(r"^(hi|hello|hey|dear|hallo|liebe[r]?|guten tag|sehr geehrte[r]?|moin|servus)\b[^.!?]{0,60}[,!]$",
                       re.I)
_CLOSING = re.compile(r"^(best|regards|best regards|kind regards|cheers|thanks|thank you|viele grüße|beste grüße|"
                      r"liebe grüße|lg|vg|mfg|gruß|grüße|herzliche grüße|bis bald)[,!.]?$", re.I)


def is_message_notification(mail: Mail, network: str) -> str | None:
    """Why this network's mail is a message notification, or None when it is not one."""
    subject = mail.header("Subject")
    if network == "linkedin":
        cls = mail.header("X-LinkedIn-Class").upper()
        template = mail.header("X-LinkedIn-Template")
        if cls in _LINKEDIN_CLASSES:
            return f"X-LinkedIn-Class {cls}"
        if template and _LINKEDIN_TEMPLATES.search(template):
            return f"X-LinkedIn-Template {template}"
        if not cls and not template and _SENT_YOU.match(subject):
            return "a message notification's subject"
        return None
    if network == "facebook":
        notify = mail.header("X-Facebook-Notify").split(";")[0].strip().lower()
        if notify in _FACEBOOK_NOTIFY:
            return f"X-Facebook-Notify: {notify}"
        return "a message notification's subject" if not notify and _SENT_YOU.match(subject) else None
    if network == "xing":
        return "a message notification's subject" if _SENT_YOU.match(subject) else None
    return None


def read_message(raw: bytes, inv: Invitation) -> NetworkMessage | None:
    """The message notification in `raw`, which parse() read as `inv`; None when it is none (an invitation, mail
    that claims no network, an alert). Never raises."""
    if inv.network is None or inv.error or inv.kind is not Kind.OTHER:
        return None
    try:
        mail = Mail.from_bytes(raw)
        why = is_message_notification(mail, inv.network)
        return _read(mail, inv.network, why) if why else None
    except Exception as exc:  # the parser's contract: never a crash
        return NetworkMessage(inv.network, Person(), None, why="unreadable",
                              doubts=(f"could not be read: {type(exc).__name__}",))


def _read(mail: Mail, network: str, why: str) -> NetworkMessage:
    display, _ = mail.address("From")
    lines = [ln.strip() for ln in lines_of(mail.best_text)]
    name = _name(mail.header("Subject"), lines, display, network)
    profile = _profile(mail.best_text, network)
    headline, text = _body(lines, name)
    doubts = tuple(d for d, bad in (("no sender name", not name), ("no message text", not text)) if bad)
    return NetworkMessage(network, Person(name=name, headline=headline, profile_url=profile), text,
                          detect_language(text) if text else None, why, doubts)


def _name(subject: str, lines: list[str], display: str, network: str) -> str | None:
    for candidate in [subject] + lines[:12]:
        m = _SENT_YOU.match(candidate)
        if m:
            return (m.group("a") or m.group("b")).strip().strip('"')
    name = strip_display_suffix(display)
    brands = {"linkedin", "xing", "facebook", "linkedin messages", "linkedin messaging"}
    return name if name and fold(name) not in brands else None


def _profile(text: str, network: str) -> str | None:
    for url in urls_in(text):
        if network == "linkedin" and re.search(r"linkedin\.com/(comm/)?in/", url, re.I):
            return linkedin._clean_profile(url)
        if network == "xing" and re.search(r"xing\.com/profile/", url, re.I):
            return strip_tracking(url)
        if network == "facebook" and "lloc=profile_pic" in url:
            return facebook._profile(url)
    return None


def _body(lines: list[str], name: str | None) -> tuple[str | None, str | None]:
    """(the sender's headline, the message) from the text lines: the card and lead-in first, the message, then the
    network's action lines and footer."""
    end = next((i for i, ln in enumerate(lines) if _ACTION.match(ln) or _RULE.match(ln) or
                (ln.startswith("http") and i > 0)), len(lines))
    body = lines[:end]
    headline = None
    start = 0
    folded_name = fold(name) if name else None
    while start < len(body) and (not body[start] or _SENT_YOU.match(body[start]) or _GREETING.match(body[start])):
        start += 1  # the network's greeting and lead-in above the card (XING)
    if folded_name and start < len(body) and fold(body[start]) == folded_name:
        start += 1  # the card: name, then the headline on the next line, when there is one
        if start < len(body) and body[start]:
            headline = body[start]
            start += 1
    body = body[start:]
    while body and not body[0]:
        body.pop(0)
    if len(body) > 2 and body[1] == "" and _GREETING.match(body[2]) and not _GREETING.match(body[0]):
        body = body[2:]  # a subject line between the card and the greeting (InMail)
    if body and _GREETING.match(body[0]):
        body.pop(0)
    while body and not body[-1]:
        body.pop()
    first = fold(name.split()[0]) if name and name.split() else None
    if body and (fold(body[-1]) == first or (folded_name and fold(body[-1]) == folded_name)):
        body.pop()  # the signature
        if body and _CLOSING.match(body[-1]):
            body.pop()
    elif body and _CLOSING.match(body[-1]):
        body.pop()
    text = "\n".join(body).strip()
    return headline, text or None
