"""XING contact requests ("Kontaktanfrage"), German and English."""
from __future__ import annotations

import re

from inboxbot.model import Kind, Person
from inboxbot.parse.base import Fields, Network, lines_of, strip_tracking, urls_in
from inboxbot.parse.mime import Mail

DOMAINS = ("xing.com",)
_SUBJECT = re.compile(r"^(Kontaktanfrage von|Contact request from)\s+(.+)$", re.I)
_WANTS = re.compile(r"^(.+?) (möchte Sie als Kontakt hinzufügen|would like to add you as a contact)\.?$", re.I)
_NOTE_LABEL = re.compile(r"^(Persönliche Nachricht|Personal message):$", re.I)
_LINK = re.compile(r"^(Kontaktanfrage annehmen|Accept contact request|Profil ansehen|View profile):", re.I)


def read(mail: Mail) -> Fields:
    subject = mail.header("Subject")
    text = mail.best_text
    lines = [ln.strip() for ln in lines_of(text)]
    wants = next((i for i, ln in enumerate(lines) if _WANTS.match(ln)), None)
    if not _SUBJECT.match(subject) and wants is None:
        return Fields(Kind.OTHER, "XING mail that is not a contact request")
    language = "de" if (_SUBJECT.match(subject) or [""])[0].lower().startswith("kontakt") else None
    name = _WANTS.match(lines[wants]).group(1) if wants is not None else _SUBJECT.match(subject).group(2)
    card: list[str] = []
    i = (wants or 0) + 1
    while i < len(lines) and not lines[i]:
        i += 1
    while i < len(lines) and lines[i] and not _NOTE_LABEL.match(lines[i]) and not _LINK.match(lines[i]):
        card.append(lines[i])
        i += 1
    note_lines: list[str] = []
    label = next((j for j, ln in enumerate(lines) if _NOTE_LABEL.match(ln)), None)
    if label is not None:
        j = label + 1
        while j < len(lines) and not _LINK.match(lines[j]):
            note_lines.append(lines[j])
            j += 1
    note = "\n".join(note_lines).strip().strip('"\u201c\u201d\u201e').strip() or None
    accept = profile = None
    links = []
    for line in lines:
        if _LINK.match(line):
            for url in urls_in(line):
                links.append(url)
                if re.search(r"/profile/", url):
                    profile = strip_tracking(url)
                else:
                    accept = url
    return Fields(
        Kind.INVITATION, "XING contact request",
        Person(name=card[0] if card else name, headline=card[1] if len(card) > 1 else None,
               location=card[2] if len(card) > 2 else None, profile_url=profile),
        note_text=note, accept_url=accept, action_links=tuple(links), chrome_language=language)


NETWORK = Network(name="xing", brand="XING", domains=DOMAINS, dkim_domains=DOMAINS, header_prefixes=("X-XING",),
                  subject_claims=(_SUBJECT,), read=read)
