"""Replies: Jinja2 templates -> a draft email. The only importer of jinja2.

Templates run in a SandboxedEnvironment with StrictUndefined. Everything that came from the invitation is data:
Jinja2 never evaluates the text of a variable, so a note holding `{{ 7*7 }}` is printed as written. Header values
are stripped of CR/LF and control characters and set through the email package, which encodes them.
"""
from __future__ import annotations

import email
import functools
import hashlib
import quopri
import re
import time
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate
from importlib.resources import files
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from inboxbot.errors import TemplateError
from inboxbot.model import TEMPLATES, Draft, Invitation, Kind, Person, Verdict
from inboxbot.parse.mime import display_text

SUFFIX = ".txt.j2"
BRANDS = {"linkedin": "LinkedIn", "facebook": "Facebook", "xing": "XING", "twitter": "Twitter", "meetup": "Meetup"}
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_COMPANY = re.compile(r"\s(?:at|@|bei|chez|en|bij|na|presso|di)\s+(.+)$", re.I)


def builtin_templates_dir() -> Path:
    """Installed, the top-level templates/ folder is the package inboxbot.templates; in a source checkout (tests
    run from the repository) it is simply ../templates."""
    try:
        return Path(str(files("inboxbot.templates")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "templates"


def company_of(headline: str | None) -> str | None:
    """'Data Lead at Tidewater Analytics' -> 'Tidewater Analytics'."""
    if not headline:
        return None
    m = _COMPANY.search(headline.split("|")[0])
    return m.group(1).strip() if m else None


def role_of(headline: str | None) -> str | None:
    """'Data Lead at Tidewater Analytics' -> 'Data Lead'."""
    if not headline:
        return None
    head = headline.split("|")[0]
    m = _COMPANY.search(head)
    return (head[:m.start()] if m else head).strip() or None


def join_or(items: list[str] | tuple[str, ...], word: str = "or") -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def shorten(text: str | None, limit: int = 160) -> str:
    """A note cut at a sentence or word boundary, for quoting it back."""
    if not text:
        return ""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[:end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Owner:
    name: str
    email: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else ""


class Composer:
    """Loads and checks the templates once; `compose` renders one reply."""

    def __init__(self, owner: Owner, user_dir: Path | None = None,
                 meeting_options: tuple[str, ...] = ("a coffee", "a meal", "a beer", "a phone call")) -> None:
        self.owner = owner
        self.meeting_options = meeting_options
        search = [str(user_dir)] if user_dir and user_dir.is_dir() else []
        search.append(str(builtin_templates_dir()))
        # auto_reload off: the templates are read and checked once, at start-up (else every draft would stat its
        # template file, and a file edited later would be used unchecked)
        self.env = SandboxedEnvironment(loader=jinja2.FileSystemLoader(search), undefined=jinja2.StrictUndefined,
                                        autoescape=False, keep_trailing_newline=False, auto_reload=False)
        self.env.filters.update(join_or=join_or, shorten=shorten)
        self.names = frozenset(self.env.list_templates())  # read once: listing walks the template folders
        self._check_all()

    def _check_all(self) -> None:
        """Compile and trial-render every template so a mistake is a start-up error, not a mid-pass crash."""
        sample = Invitation(kind=Kind.INVITATION, network="linkedin", note="Sample note.", language="en",
                            inviter=Person(name="Sam Sample", headline="Engineer at Example", location="Somewhere"))
        for name in sorted(self.names):
            if not name.endswith(SUFFIX):
                continue
            try:
                self._render(name, sample, (), "ask")
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {exc.filename or name} line {exc.lineno}: {exc.message}") from exc
            except jinja2.TemplateError as exc:  # undefined variables, sandbox refusals
                raise TemplateError(f"template {name}: {exc.message}") from exc
            except ValueError as exc:
                raise TemplateError(f"template {name}: {exc}") from exc
        for name in TEMPLATES:
            if f"{name}{SUFFIX}" not in self.names:
                raise TemplateError(f"the template {name}{SUFFIX} is missing")

    def template_for(self, template: str, language: str | None) -> str:
        if language and f"{language}/{template}{SUFFIX}" in self.names:
            return f"{language}/{template}{SUFFIX}"
        return f"{template}{SUFFIX}"

    def _render(self, name: str, inv: Invitation, matched: tuple[str, ...], decision: str) -> tuple[str, str]:
        person = inv.inviter
        variables = {
            "owner": {"name": self.owner.name, "first_name": self.owner.first_name, "email": self.owner.email},
            "inviter": {"name": person.name or "", "first_name": person.first_name or "",
                        "headline": person.headline or "", "company": company_of(person.headline) or "",
                        "role": role_of(person.headline) or "",
                        "location": person.location or "", "email": person.email or "",
                        "profile_url": person.profile_url or ""},
            "network": BRANDS.get(inv.network or "", inv.network or "the network"),
            "note": inv.note or "", "mutual_connections": inv.mutual_connections, "language": inv.language or "",
            "matched": list(matched), "meeting_options": list(self.meeting_options), "decision": decision,
            "reminder": inv.kind is Kind.REMINDER,
        }
        text = self.env.get_template(name).render(**variables)
        head, sep, body = text.partition("\n\n")
        if not sep or not head.lower().startswith("subject:"):
            raise ValueError('must start with a "Subject: …" line followed by a blank line')
        subject = display_text(head.split(":", 1)[1])
        return subject, body.strip() + "\n"

    def compose(self, inv: Invitation, verdict: Verdict) -> Draft:
        if not verdict.template:
            raise ValueError("this verdict has no reply template")
        name = self.template_for(verdict.template, inv.language)
        try:
            subject, body = self._render(name, inv, verdict.matched, verdict.decision.value)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc
        # only the address the network vouches for (the screening's verdict) is ever a recipient; any other, such
        # as one written in the note, is shown to the owner in the paste-in draft and never used
        to_inviter = bool(verdict.recipient and _ADDRESS.match(verdict.recipient))
        if not to_inviter:
            body = _paste_preface(inv) + body
        sender = (display_text(self.owner.name), self.owner.email)
        recipient = (display_text(inv.inviter.name or ""), verdict.recipient) if to_inviter else sender
        message_id = draft_message_id(inv, self.owner.email, verdict.template)
        parent = inv.message_id if inv.message_id and re.fullmatch(r"<[!-;=?-~]+>", inv.message_id) else None
        headers = [("From", _address(*sender)), ("To", _address(*recipient)),
                   ("Subject", _encoded(subject)), ("Date", formatdate(time.time(), localtime=True)),
                   ("Message-ID", message_id)]
        if parent:
            headers += [("In-Reply-To", parent), ("References", parent)]
        headers += [("X-Inboxbot-Decision", f"{verdict.decision.value}; template={verdict.template}"),
                    ("MIME-Version", "1.0"), ("Content-Type", 'text/plain; charset="utf-8"'),
                    ("Content-Transfer-Encoding", "quoted-printable")]
        # built by hand rather than through EmailMessage: the same bytes at a fifth of the cost (it shows in a
        # backlog of thousands of drafts). Every value is single-line (display_text), encoded where not ASCII.
        raw = "".join(f"{name}: {value}\n" for name, value in headers).encode("ascii") + b"\n" + \
            quopri.encodestring(body.encode("utf-8"))
        to_display = f"{recipient[0]} <{recipient[1]}>" if recipient[0] else recipient[1]
        return Draft(to=to_display, subject=subject, body=body, message_id=message_id, raw=raw,
                     to_address=recipient[1], to_inviter=to_inviter)


@functools.lru_cache(maxsize=512)
def _address(name: str, address: str) -> str:
    return formataddr((name, address), charset="utf-8")


@functools.lru_cache(maxsize=512)
def _encoded(value: str) -> str:
    """A header value as RFC 2047 encoded words when it is not ASCII, folded when long. Kept: the email package's
    encoder tries every split point (a third of a millisecond a subject), and most drafts share their subject."""
    if value.isascii() and len(value) <= 76:
        return value  # what Header would give back (a backlog's thousands of drafts skip building one)
    return Header(value, "us-ascii" if value.isascii() else "utf-8", maxlinelen=76).encode()


def draft_message_id(inv: Invitation, owner_email: str, template: str) -> str:
    """Deterministic, so a pass that crashed after APPEND can find its own draft instead of adding a second; the
    template is part of it, so that a replay's new draft for the same invitation is told apart from the old one."""
    seed = (inv.message_id or "") + "|" + (inv.inviter.profile_url or inv.inviter.name or "") + "|" + template
    digest = hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:24]
    domain = owner_email.rpartition("@")[2] or "inboxbot.invalid"
    return f"<inboxbot.{digest}@{domain}>"


_OWN_MESSAGE_ID = re.compile(r"<inboxbot\.[0-9a-f]{24}@[^<>\s]*>")


def is_own_message_id(message_id: str | None) -> bool:
    """Whether a Message-ID is one draft_message_id makes: the message is inboxbot's reply, not the owner's."""
    return bool(message_id) and _OWN_MESSAGE_ID.fullmatch(message_id.strip()) is not None


def draft_digest(raw: bytes) -> str:
    """A fingerprint of a draft's text, the same for the bytes inboxbot appended and for those the server hands
    back: it tells whether the user has edited a draft (an edited one is never removed)."""
    msg = email.message_from_bytes(raw)
    part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), msg)
    return _fingerprint(part.get_payload(decode=True) or b"")


def body_digest(body: str) -> str:
    """draft_digest of a draft made from this body, without parsing the draft (a backlog makes thousands)."""
    return _fingerprint(body.encode("utf-8"))


def _fingerprint(text: bytes) -> str:
    text = b"\n".join(line.rstrip() for line in text.replace(b"\r\n", b"\n").split(b"\n")).strip()
    return hashlib.sha256(text).hexdigest()


def _paste_preface(inv: Invitation) -> str:
    """The notification cannot be answered by mail: the draft goes to the owner, ready to paste."""
    brand = BRANDS.get(inv.network or "", "the network")
    lines = [f"[inboxbot] {inv.inviter.name or 'The inviter'} can only be reached on {brand}. "
             f"Paste the reply below into a message there."]
    if inv.inviter.profile_url:
        lines.append(f"Profile: {inv.inviter.profile_url}")
    if inv.accept_url:
        lines.append(f"Invitation: {inv.accept_url}")
    if inv.inviter.email:
        lines.append(f"An address the message gives, not vouched for by {brand} (check it before you use it): "
                     f"{inv.inviter.email}")
    return "\n".join(lines) + "\n\n-- reply --\n\n"

