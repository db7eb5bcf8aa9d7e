"""Facebook friend requests (and the other Facebook notifications, which are not invitations)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from inboxbot.model import Kind, Person
from inboxbot.parse.base import Fields, Network, lines_of, urls_in
from inboxbot.parse.mime import Mail

DOMAINS = ("facebook.com", "facebookmail.com")
_SUBJECT = re.compile(r"^(.+?) wants to be friends (with you )?on Facebook", re.I)
_WANTS = re.compile(r"^(.+?) wants to be friends with you on Facebook\.?$", re.I)
_CONFIRM = re.compile(r"^(confirm request|confirm friend request)$", re.I)


def read(mail: Mail) -> Fields:
    notify = mail.header("X-Facebook-Notify").split(";")[0].strip().lower()
    subject = mail.header("Subject")
    text = mail.best_text
    if notify == "friend" or (not notify and _SUBJECT.search(subject)):
        kind, why = Kind.INVITATION, f"X-Facebook-Notify: {notify}" if notify else "friend-request subject"
    elif notify in ("friend_confirmation",) or re.search(r"accepted your friend request", subject, re.I):
        return Fields(Kind.ACCEPTANCE, f"X-Facebook-Notify: {notify or 'none'}, an accepted friend request")
    else:
        return Fields(Kind.OTHER, f"X-Facebook-Notify: {notify or 'none'} is not a friend request")
    lines = [ln.strip() for ln in lines_of(text)]
    name = None
    for line in lines:
        m = _WANTS.match(line)
        if m:
            name = m.group(1).strip()
            break
    if name is None:
        m = _SUBJECT.search(subject)
        name = m.group(1).strip() if m else None
    urls = urls_in(text)
    profile = next((_profile(u) for u in urls if "lloc=profile_pic" in u), None)
    accept = None
    for i, line in enumerate(lines[:-1]):
        if _CONFIRM.match(line) and urls_in(lines[i + 1]):
            accept = urls_in(lines[i + 1])[0]
    links = tuple(u for u in urls if "lloc=" in u)
    return Fields(kind, why, Person(name=name, profile_url=profile), note_text=None, accept_url=accept,
                  action_links=links)


def _profile(url: str) -> str | None:
    """https://www.facebook.com/nd/?<vanity>&aref=… -> https://www.facebook.com/<vanity>"""
    parts = urlsplit(url)
    first = parts.query.split("&", 1)[0]
    if first and "=" not in first:
        return f"https://{parts.hostname}/{first}"
    return None


NETWORK = Network(name="facebook", brand="Facebook", domains=DOMAINS, dkim_domains=("facebookmail.com",),
                  header_prefixes=("X-Facebook",), subject_claims=(_SUBJECT,), read=read)
