"""LinkedIn notifications, every era from 2011 to 2026: member and guest invitations, reminders, and the
look-alikes from the same senders (acceptances, InMail, alerts, digests) that are not invitations."""
from __future__ import annotations

import html
import re
from functools import lru_cache

from inboxbot import vocab
from inboxbot.model import Kind, Person
from inboxbot.parse.base import (Fields, Network, fold, host_of, lines_of, personal_address, search_folded,
                                 strip_display_suffix, strip_tracking, urls_in)
from inboxbot.parse.mime import Mail, html_chunks

DOMAINS = ("linkedin.com",)

_INVITE_CLASSES = {"INVITE-MBR", "INVITE-GUEST"}
_ACCEPT_CLASSES = {"INVITE-ACCEPT"}
_ACCEPT_TEMPLATES = re.compile(r"accept_invite", re.I)
_INVITE_TEMPLATES = re.compile(r"^(invite_|email_m2m_invite|m2m_invitation|first_guest_reminder|"
                               r"second_guest_reminder|email_m2m_invite_reminder)", re.I)
_OTHER_TEMPLATES = re.compile(r"(pymk|suggestion|inmail|job|messaging|security|editorial|digest|welcome)", re.I)
_REMINDER_SUBJECT = re.compile(r"(invitation is (awaiting|waiting for) your response|is waiting for your response)\s*$",
                               re.I)
_INVITE_SUBJECT = re.compile(r"(invitation to connect on linkedin|join my network on linkedin|please add me to your "
                             r"linkedin network|^i want to connect$|undangan untuk terhubung di linkedin)", re.I)
_ACCEPT_SUBJECT = re.compile(r"(start a conversation with your new connection|connections, experience, and more$)",
                             re.I)
_ACCEPT_URL = re.compile(r"invite-accept|accept-invitation|invitationid=|sharedkey=|/blk/i\d+_55/|/isd/")  # folded
_EK = re.compile(r"[?&]ek=([A-Za-z0-9_]+)")

_FOOTER = re.compile(
    r"^(\.{10,}|-{2}|you are receiving|you received an invitation|this email was (intended for|sent to)|"
    r"learn why we included this|unsubscribe:|help:|change frequency|did you know|why might connecting|"
    r"has recibido|este mensaje|anda mendapatkan|email ini|if you need assistance|\(c\) |© |here are some "
    r"recommendations|more people you may know|this is a reminder that)", re.I)
_SIGNOFF = re.compile(r"^[-\u2013\u2014]\s?(\S+(?:\s\S+){0,2})$")
_URL_TAIL = r"(\s+https?://\S+)?$"


@lru_cache(maxsize=1)
def _link_label() -> re.Pattern:
    """A line that is a link's label, with or without its URL ("Accept:", "Lihat profil Budi: https://…")."""
    labels = "|".join(vocab.entries("link_labels"))
    return re.compile(rf"^(?:{labels})\s?:{{0,2}}" + _URL_TAIL, re.I)


def is_link_label(line: str) -> bool:
    """Whether a line is a link's label, or a short row of them ("Akzeptieren Profil anzeigen", as buttons
    render)."""
    return _link_label().match(line) is not None or (len(line) <= _LABEL_ROW and _label_row().match(line) is not None)


_LABEL_ROW = 80  # characters: a row of buttons is short, and the row pattern is only tried on short lines


@lru_cache(maxsize=1)
def _label_row() -> re.Pattern:
    labels = "|".join(vocab.entries("link_labels"))
    return re.compile(rf"^(?:(?:{labels})\s?:{{0,2}}(?:\s+|$))+$", re.I)


@lru_cache(maxsize=1)
def _greeting() -> re.Pattern:
    """"Hi Robin,", "Hai Robin,", "Hola, Robin:" (a salutation line; the French one may put a space before ":")."""
    words = "|".join(vocab.entries("greetings"))
    return re.compile(rf"^(?:{words})\b[^.!?]{{0,60}}(,|\s?:)$", re.I)


# every heading names LinkedIn or asks for a response: lines without these words (most) skip the costly pattern
_HEADING_WORDS = re.compile(r"linkedin|response|antwort|respuesta|r\u00e9ponse|resposta|risposta|reactie|tanggapan",
                            re.I)


@lru_cache(maxsize=1)
def _headings() -> re.Pattern:
    """The network's sentences naming the inviter ("X would like to connect…", "X is still waiting for…"), as one
    pattern (one match per line instead of one per sentence); each sentence's `name` group renamed apart."""
    sentences = vocab.entries("headings")
    missing = [h for h in sentences if not _HEADING_WORDS.search(h)]
    if missing:
        raise ValueError(f"a vocab heading names neither LinkedIn nor a response: {missing[0]!r}")
    named = [h.replace("(?P<name>", f"(?P<name{i}>") for i, h in enumerate(sentences)]
    return re.compile(r"^\s*(?:" + "|".join(f"(?:{h})" for h in named) + r")\s*$", re.I)


def heading_name(line: str) -> str | None:
    """The inviter named by one of the network's heading sentences, or None when the line is not one."""
    if "://" in line or not _HEADING_WORDS.search(line):
        return None  # no heading holds a link: the lines with LinkedIn's links are many
    m = _headings().match(line)
    if not m:
        return None
    return next(v for v in m.groupdict().values() if v is not None).strip()


@lru_cache(maxsize=1)
def _count() -> re.Pattern:
    """"7 connections in common", "3 gemeinsame Kontakte": the card's mutual-connection count, in every language."""
    return re.compile(r"^(\d[\d,.]*)\s+(?:" + "|".join(vocab.entries("counts")) + r")$", re.I)


def is_count(line: str) -> bool:
    return _count().match(line) is not None


@lru_cache(maxsize=1)
def _footer() -> re.Pattern:
    """The first line of the network's footer, in every language ("Vous avez reçu une invitation…")."""
    return re.compile(_FOOTER.pattern + "|^(?:" + "|".join(vocab.entries("footers")) + ")", re.I)


def _is_signoff(line: str) -> bool:
    """"- Budi", "— Mary Ann", "- Thanh Huong": a dash and one word, or up to three capitalised words."""
    m = _SIGNOFF.match(line)
    if not m:
        return False
    words = m.group(1).split()
    return len(words) == 1 or all(w[0].isupper() for w in words)


_TEXT_CUT = re.compile(r"<div itemscope|<div\b", re.I)
_ACTION_WORD = re.compile(r"(accept|view|confirm)\b", re.I)
# spelled out instead of IGNORECASE: the scan for "<a" over a whole document is a sixth faster
_ANCHOR = re.compile(r'<[aA]\b[^>]*[hH][rR][eE][fF]="([^"]+)"[^>]*>(.*?)</[aA]>', re.S)
_TAG_OR_NBSP = re.compile(r"<[^>]+>|&nbsp;")
_ACTION_LABEL = re.compile(r"accept|view profile|view invitation|confirm")  # matched on the lower-cased label
_NOT_A_PLACE = re.compile(r"^(accept|view profile|hi\b|i'd like)", re.I)
_NEAR_CARD = 600  # characters of markup past the headline within which the location comes
_PROFILE_URL = re.compile(r"linkedin\.com/(comm/)?(in/|profile/view\?)")  # searched folded


def read(mail: Mail) -> Fields:
    kind, why = _kind(mail)
    if kind not in (Kind.INVITATION, Kind.REMINDER):
        return Fields(kind=kind, why_kind=why)
    display, from_addr = mail.address("From")
    if mail.text.strip():
        text = mail.text
        if _TEXT_CUT.search(text):
            text = "\n".join(_cut_glued_markup(line) for line in text.split("\n"))
        card, note_lines, phrase_name = _layout(_body_lines(text))
    else:
        text = mail.html_text + "\n" + "\n".join(_html_action_links(mail))
        card, note_lines, phrase_name = _html_only_layout(mail)
    name = card[0] if card else (phrase_name or strip_display_suffix(display) or None)
    if name and fold(name) in ("linkedin", ""):
        name = phrase_name
    headline = card[1] if len(card) > 1 else None
    location = card[2] if len(card) > 2 and not is_count(card[2]) else None
    mutual = next((int(re.sub(r"\D", "", c)) for c in card if is_count(c)), None)
    if location is None and name and card:
        location = _location_from_html(mail, name, headline)
    links = [u for u in urls_in(text) if _is_accept(u) or _is_profile(u)]
    accept = next((u for u in links if _is_accept(u)), None)
    actions = _action_links(text)
    labelled = [u for u in actions if _is_profile(u)]
    profile = next((_clean_profile(u) for u in labelled + links if _is_profile(u)), None)
    email = _inviter_email(mail, from_addr)
    return Fields(
        kind=kind, why_kind=why,
        inviter=Person(name=name, headline=headline, location=location, email=email, profile_url=profile),
        note_text=_join_note(note_lines, name), mutual_connections=mutual, accept_url=accept,
        action_links=tuple(actions + _html_action_links(mail)))


_LAYOUT_LINK = re.compile(r"linkedin\.com/(comm/|e/v2\?|e/[^\s/]+/[^\s/]+/[^\s/]+/blk/)")  # searched folded
_LAYOUT_FOOTER = re.compile(r"you are receiving invitation|this email was intended for|learn why we included this|"
                            r"linkedin (corporation|ireland)")  # searched folded


def claims_layout(mail: Mail) -> str | None:
    """A message that is dressed as LinkedIn's notification (its notification links and its footer) claims LinkedIn,
    wherever it comes from."""
    text = mail.text if mail.text.strip() else mail.html  # the markup as it is: no need to convert it to find these
    if search_folded(_LAYOUT_LINK, text) and search_folded(_LAYOUT_FOOTER, text):
        return "it carries LinkedIn's notification layout: its notification links and its footer"
    return None


def _kind(mail: Mail) -> tuple[Kind, str]:
    cls = mail.header("X-LinkedIn-Class").upper()
    tpl = mail.header("X-LinkedIn-Template")
    subject = mail.header("Subject")
    reminder = bool(_REMINDER_SUBJECT.search(subject)) or "reminder" in tpl.lower()
    if cls in _ACCEPT_CLASSES or _ACCEPT_TEMPLATES.search(tpl):
        return Kind.ACCEPTANCE, f"X-LinkedIn-Class {cls or tpl} is an acceptance notice"
    if cls in _INVITE_CLASSES or _INVITE_TEMPLATES.search(tpl):
        if reminder:
            return Kind.REMINDER, f"X-LinkedIn-Class {cls or tpl} with a reminder subject"
        return Kind.INVITATION, f"X-LinkedIn-Class {cls or tpl}"
    if cls or tpl:
        return Kind.OTHER, f"X-LinkedIn-Class {cls or '-'} / template {tpl or '-'} is not an invitation"
    if _ACCEPT_SUBJECT.search(subject):
        return Kind.ACCEPTANCE, "subject of an acceptance notice"
    text = mail.best_text
    keys = set(_EK.findall(text))
    if any(_ACCEPT_TEMPLATES.search(k) for k in keys):
        return Kind.ACCEPTANCE, "links carry an acceptance template key"
    if reminder:
        return Kind.REMINDER, "reminder subject"
    if any(_INVITE_TEMPLATES.search(k) for k in keys) or _INVITE_SUBJECT.search(subject):
        return Kind.INVITATION, "invitation subject or template key"
    if any(_is_accept(u) for u in urls_in(text)) and re.search(
            r"(requested to add you|would like to connect|confirm that you know|^accept:)", text, re.I | re.M):
        return Kind.INVITATION, "invitation wording and accept link"
    if re.search(r"has accepted your invitation", text, re.I):
        return Kind.ACCEPTANCE, "acceptance wording"
    return Kind.OTHER, "LinkedIn mail that is not about an invitation"


def _cut_glued_markup(line: str) -> str:
    """The 2020 text part glues Gmail's <div itemscope> microdata to the Accept URL; drop the markup."""
    match = _TEXT_CUT.search(line)
    if not match:
        return line
    tail = re.sub(r"<[^>]*>", "", line[match.start():])
    # what follows the closing </div> is "Here are some recommendations…": footer text on a line of its own
    return line[:match.start()] + ("\n" + tail if tail.strip() else "")


def _body_lines(text: str) -> list[str]:
    """The lines of the message body above the footer and the 'More people you may know' block."""
    out = []
    for line in lines_of(text):
        stripped = line.strip()
        if stripped.startswith("---") and not stripped.strip("-"):
            stripped = ""  # a rule between blocks, no content
        elif _footer().match(stripped) and out:
            break
        out.append(stripped)
    return out


def _layout(lines: list[str]) -> tuple[list[str], list[str], str | None]:
    """Split the body into the inviter's card (name, headline, location, count) and the note slot."""
    phrase_name = None
    start = 0
    link_label, greeting = _link_label(), _greeting()
    first_link = next((i for i, line in enumerate(lines) if link_label.match(line)), len(lines))
    for i, line in enumerate(lines[:first_link]):  # the heading naming the inviter comes before the links
        phrase_name = heading_name(line) if line else None
        if phrase_name:
            start = i + 1
            break
    if lines and lines[0].lower() == "linkedin" and len(lines) > 1 and not lines[1]:
        start = max(start, 2)  # the 2011-2013 "LinkedIn / ------" banner
    link_i = next((i for i in range(start, len(lines)) if link_label.match(lines[i])), len(lines))
    sign_i = next((i for i in range(link_i - 1, start - 1, -1) if _is_signoff(lines[i])), None)
    greet_i = next((i for i in range(start, link_i) if greeting.match(lines[i]) or
                    (i == _first_content(lines, start) and lines[i].endswith(",") and len(lines[i]) < 60
                     and phrase_name is not None)), None)
    if sign_i is not None:
        # 2011/2013/guest: [greeting] note "- First" [card] links
        note = lines[(greet_i + 1 if greet_i is not None else start):sign_i]
        card = _block(lines, sign_i + 1, link_i)
        return card, note, phrase_name
    if greet_i is not None:
        # 2015-2020: greeting, note, card, links
        card_start, card = _last_block(lines, greet_i + 1, link_i)
        return card, lines[greet_i + 1:card_start], phrase_name
    if phrase_name and link_i < len(lines):
        # reminders: "X would like to connect" / "X's invitation is waiting…", [card], [note], links, [note after
        # the links (2013/2016)]
        card = _block(lines, start, link_i)
        between = lines[_first_content(lines, start) + len(card):link_i]
        if any(between):
            return card, between, phrase_name
        after = [ln for ln in lines[link_i:] if not link_label.match(ln) and not ln.startswith("http")]
        return card, after, phrase_name
    # 2024+: card first, then the note, then links
    card = _block(lines, start, link_i)
    end_card = _first_content(lines, start) + len(card)
    return card, lines[end_card:link_i], phrase_name


def _html_only_layout(mail: Mail) -> tuple[list[str], list[str], str | None]:
    """A message with no text part: start at the inviter's name (the text of a link to the same profile as the
    "View profile" button) and read name, headline, location, count, note, as in the 2024 layout."""
    anchors = [(href.replace("&amp;", "&"), html.unescape(re.sub(r"<[^>]+>", "", label)).strip())
               for href, label in re.findall(r'<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>', mail.html, re.I | re.S)]
    view = next((href for href, label in anchors if _is_profile(href) and is_link_label(label)), None)
    names = [label for href, label in anchors if view and href == view and label and not is_link_label(label)]
    lines = [ln.strip() for ln in mail.html_text.split("\n") if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if names and fold(ln) == fold(names[0])), None)
    if start is None:
        return [], [], None
    body = _body_lines("\n".join(lines[start:]))
    stop = next((i for i, ln in enumerate(body) if re.match(r"^(accept|view profile|confirm)\b", ln, re.I)
                 or is_link_label(ln)), len(body))
    card = body[:min(stop, 2)]
    rest = body[len(card):stop]
    for line in rest[:2]:  # location and count, when present
        if is_count(line) or (len(card) == 2 and len(line) <= 60 and not line.endswith((".", "!", "?"))):
            card.append(line)
        else:
            break
    note = body[len(card):stop]
    if not any(note):
        # the 2024 HTML-only layout may put the note above the card (in a heading, or a paragraph with a greeting):
        # what stands between the header's links (the owner's name) and the card, but for the network's own words
        header = {label for href, label in anchors if href != view}
        note = [ln for ln in lines[:start] if ln not in header and not _greeting().match(ln)
                and not heading_name(ln) and not _INVITE_SUBJECT.search(ln)]
    return card, note, None


def _first_content(lines: list[str], start: int) -> int:
    return next((i for i in range(start, len(lines)) if lines[i]), len(lines))


def _block(lines: list[str], start: int, stop: int) -> list[str]:
    """The first run of consecutive non-empty lines in lines[start:stop]."""
    i = _first_content(lines, start)
    out = []
    while i < stop and lines[i]:
        out.append(lines[i])
        i += 1
    return out


def _last_block(lines: list[str], start: int, stop: int) -> tuple[int, list[str]]:
    """The last run of consecutive non-empty lines in lines[start:stop], and where it starts."""
    j = stop - 1
    while j >= start and not lines[j]:
        j -= 1
    end = j + 1
    while j >= start and lines[j]:
        j -= 1
    if end - (j + 1) > 4:  # a card has at most name, headline, location, count; more is a note without a card
        return end, []
    return j + 1, lines[j + 1:end]


def _join_note(lines: list[str], name: str | None) -> str | None:
    lines = list(lines)
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if lines and _is_signoff(lines[-1]):
        lines.pop()
    if lines and _greeting().match(lines[0]):
        lines.pop(0)
    text = "\n".join(lines).strip()
    return text or None


def _is_profile(url: str) -> bool:
    return search_folded(_PROFILE_URL, url)


def _is_accept(url: str) -> bool:
    return search_folded(_ACCEPT_URL, url)


def _clean_profile(url: str) -> str:
    url = strip_tracking(url, keep=frozenset({"id"}))
    url = re.sub(r"(linkedin\.com)/comm/", r"\1/", url, flags=re.I)
    return url.rstrip("/").rstrip("?")


def _action_links(text: str) -> list[str]:
    """Every URL on an accept / view / confirm line (or the line after a bare label)."""
    out = []
    lines = lines_of(text)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _ACTION_WORD.match(stripped) or _link_label().match(stripped):
            found = urls_in(line) or (urls_in(lines[i + 1]) if i + 1 < len(lines) else [])
            out.extend(found)
    return out


def _html_action_links(mail: Mail) -> list[str]:
    """Anchors of the HTML part whose text is an action (Accept, View profile, Confirm)."""
    out = []
    for href, label in _ANCHOR.findall(mail.html):
        label = _TAG_OR_NBSP.sub(" ", label).strip().lower()
        if _ACTION_LABEL.match(label) or (0 < len(label) <= _LABEL_ROW and _link_label().match(label)):
            out.append(href.replace("&amp;", "&"))
    return out


def _location_from_html(mail: Mail, name: str, headline: str | None) -> str | None:
    """2016-2020 text parts carry no location; the HTML card has it under the headline."""
    if not headline or not mail.html:
        return None
    markup = mail.html
    at = markup.find(html.escape(headline, quote=False).split("&")[0][:40])
    far = markup.find("<", max(0, at - 2000)) if at >= 0 else -1
    if far < 0:
        return None
    # read only the HTML around the card, the nearest first (the name's element to a little past the headline;
    # cut before a tag, so no text node is cut short): converting markup is most of the cost of a parse
    windows = [(far, at + 1500)]
    name_at = markup.rfind(html.escape(name, quote=False)[:40], far, at)
    near_end = markup.find("<", at + _NEAR_CARD)
    if name_at >= 0 and near_end >= 0:
        windows.insert(0, (markup.rfind("<", far, name_at), near_end))
    for start, end in windows:
        found, location = _card_location(html_chunks(markup[start:end]), name, headline)
        if found:
            return location
    return None


def _card_location(chunks: list[str], name: str, headline: str) -> tuple[bool, str | None]:
    """(whether the text has the card, name then headline, and what follows them if it is a location)."""
    target, who = fold(headline), fold(name)
    for i, chunk in enumerate(chunks[:-1]):
        if i > 0 and fold(chunk) == target and fold(chunks[i - 1]) == who:
            candidate = chunks[i + 1]
            if _link_label().match(candidate) or is_count(candidate) or len(candidate) > 80 or \
                    _NOT_A_PLACE.match(candidate):
                return True, None
            return True, candidate
    return False, None


def _inviter_email(mail: Mail, from_addr: str) -> str | None:
    """2011: Reply-To is the inviter; 2013: From is the inviter (sent through LinkedIn's Sender)."""
    _, reply_to = mail.address("Reply-To")
    for candidate in (reply_to, from_addr):
        address = personal_address(candidate, DOMAINS)
        if address and not host_of("http://" + address.rpartition("@")[2]).endswith("linkedin.com"):
            return address
    return None


NETWORK = Network(
    name="linkedin", brand="LinkedIn", domains=DOMAINS, dkim_domains=DOMAINS, header_prefixes=("X-LinkedIn-",),
    subject_claims=(_INVITE_SUBJECT, _REMINDER_SUBJECT), signed_since="2011-01-01", read=read, layout=claims_layout)
