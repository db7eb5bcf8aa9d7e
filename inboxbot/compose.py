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
from email.utils import formataddr, formatdate, parsedate_to_datetime
from importlib.resources import files
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from inboxbot import vocab
from inboxbot.errors import TemplateError
from inboxbot.model import LANGUAGES, TEMPLATES, Decision, Draft, Invitation, Kind, Person, Verdict
from inboxbot.parse.base import fold
from inboxbot.parse.mime import display_text

SUFFIX = ".txt.j2"
BRANDS = {"linkedin": "LinkedIn", "facebook": "Facebook", "xing": "XING", "twitter": "Twitter", "meetup": "Meetup"}
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_COMPANY = re.compile(r"\s(?:at|@|bei|chez|en|bij|na|presso|di)\s+(.+)$", re.I)
# where the owner accepts or ignores invitations: linked in a paste-in draft instead of the notification's one-click
# accept link (a click "to have a look" would accept a stranger)
INVITATION_PAGES = {"linkedin": "https://www.linkedin.com/mynetwork/invitation-manager/",
                    "xing": "https://www.xing.com/network/requests",
                    "facebook": "https://www.facebook.com/friends/requests"}
# each option reads after "Would you be up for …" / "Hätten Sie Lust auf …" / "Que tal …" (see the templates)
MEETING_OPTIONS = {
    "en": ("a coffee", "a lunch", "a call"),
    "de": ("einen Kaffee", "ein Mittagessen", "ein Telefonat"),
    "es": ("un café", "una comida", "una llamada"),
    "fr": ("un café", "un déjeuner", "un appel"),
    "pt": ("um café", "um almoço", "uma conversa por telefone"),
    "it": ("un caffè", "un pranzo", "una telefonata"),
    "nl": ("een kop koffie", "een lunch", "een telefoongesprek"),
    "id": ("minum kopi bersama", "makan siang bersama", "mengobrol lewat telepon"),
}
CALL = {lang: options[-1] for lang, options in MEETING_OPTIONS.items()}  # all that is offered to someone far away
OR = {"en": "or", "de": "oder", "es": "o", "fr": "ou", "pt": "ou", "it": "o", "nl": "of", "id": "atau"}
# the draft's lines for the owner (a paste-in draft), in the owner's language: {name}, {network}, {topic}
PASTE = {
    "en": ("Reply to {name} ({network}): {topic}", "{name} can only be reached on {network}: paste the reply below "
           "into a message there.", "Profile", "Accept or ignore the invitation"),
    "de": ("Antwort an {name} ({network}): {topic}", "{name} ist nur über {network} erreichbar: Fügen Sie die "
           "Antwort unten dort in eine Nachricht ein.", "Profil", "Einladung annehmen oder ignorieren"),
    "es": ("Respuesta a {name} ({network}): {topic}", "Solo se puede contactar con {name} en {network}: pegue la "
           "respuesta de abajo en un mensaje allí.", "Perfil", "Aceptar o ignorar la invitación"),
    "fr": ("Réponse à {name} ({network}) : {topic}", "{name} n'est joignable que sur {network} : collez la réponse "
           "ci-dessous dans un message là-bas.", "Profil", "Accepter ou ignorer l'invitation"),
    "pt": ("Resposta para {name} ({network}): {topic}", "{name} só pode ser contactado pelo {network}: cole a "
           "resposta abaixo numa mensagem lá.", "Perfil", "Aceitar ou ignorar o convite"),
    "it": ("Risposta a {name} ({network}): {topic}", "{name} è raggiungibile solo su {network}: incolli la "
           "risposta qui sotto in un messaggio lì.", "Profilo", "Accettare o ignorare l'invito"),
    "nl": ("Antwoord aan {name} ({network}): {topic}", "{name} is alleen via {network} bereikbaar: plak het "
           "antwoord hieronder daar in een bericht.", "Profiel", "Uitnodiging accepteren of negeren"),
    "id": ("Balasan untuk {name} ({network}): {topic}", "{name} hanya bisa dihubungi lewat {network}: tempelkan "
           "balasan di bawah ini ke pesan di sana.", "Profil", "Terima atau abaikan undangan"),
}
# an address the message gives (in the note, or in a header nobody signed): shown, never used
UNVOUCHED = {
    "en": "An address the message gives, not vouched for by {network} (check it before you use it): {address}",
    "de": "Eine Adresse aus der Nachricht, nicht von {network} bestätigt (prüfen Sie sie, bevor Sie sie verwenden): "
          "{address}",
    "es": "Una dirección que da el mensaje, sin garantía de {network} (compruébela antes de usarla): {address}",
    "fr": "Une adresse donnée par le message, non garantie par {network} (vérifiez-la avant de l'utiliser) : "
          "{address}",
    "pt": "Um endereço que a mensagem indica, não garantido pelo {network} (verifique-o antes de o usar): {address}",
    "it": "Un indirizzo indicato nel messaggio, non garantito da {network} (lo verifichi prima di usarlo): {address}",
    "nl": "Een adres uit het bericht, niet bevestigd door {network} (controleer het voordat u het gebruikt): "
          "{address}",
    "id": "Alamat yang diberikan pesan, tidak dijamin oleh {network} (periksa dulu sebelum Anda memakainya): "
          "{address}",
}
PASTE_MARK = "-- reply --"  # the line after which the text to paste begins
_INNER_QUOTES = str.maketrans({"“": "‘", "”": "’", "„": "‚", "«": "‹", "»": "›", '"': "'"})
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_SECRET_PARAM = re.compile(r"token|key|sig|auth|otp|trk|code|ref|mid|eid|lipi|sc_|src", re.I)
_ACTION = re.compile(r"accept|token|confirm|invit|sharedkey|otp", re.I)
# a pitch that wants the owner's contacts rather than the owner's money (feedback says so)
_CONTACTS = re.compile(r"introduc|referr|empfehl|contact|kontak|contato|contatti|contacto")
_LINKISH = re.compile(r"(https?://|www\.|\S@\S|\.(com|net|org|io)\b)", re.I)


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


def pick_quote(note: str | None, matched: tuple[str, ...] = (), limit: int = 200) -> str | None:
    """The note's sentence that carries the request or claim, for quoting it back when the note reader gave none:
    the first sentence holding a matched phrase, else the first with some substance. Never one with a link or an
    address in it (a draft must not carry a stranger's links)."""
    if not note:
        return None
    sentences = [s.strip() for s in _SENTENCE_END.split(note) if s.strip() and not _LINKISH.search(s)]
    sentences = [s for s in sentences if len(s.split()) >= 4]  # "Hi Robin," is no sentence worth quoting
    phrases = [fold(m) for m in matched if m and '"' not in m]
    carrying = next((s for s in sentences if any(p in fold(s) for p in phrases)), None)
    chosen = carrying or next(iter(sentences), None)
    if chosen and chosen.endswith(":"):  # "… to talk through:" followed by a list
        chosen = chosen[:-1].rstrip() + " …"
    return shorten(chosen, limit) if chosen else None


def first_statement(note: str | None) -> str | None:
    """The note's first sentence that says something rather than asks (four words or more, no link or address):
    what a purposeful note is about, before its request."""
    for sentence in _SENTENCE_END.split(note or ""):
        sentence = " ".join(sentence.split())
        if len(sentence.split()) >= 4 and not sentence.endswith("?") and not _LINKISH.search(sentence):
            return sentence if len(sentence) <= 200 else shorten(sentence, 200)
    return None


def whole_sentence(note: str | None, quote: str | None, limit: int = 200) -> str | None:
    """The note's whole sentence around the part the note reader quoted (it may cut at a dash or a comma: "I'm
    Clara's nephew — she says you were neighbours" is one thought), as the inviter wrote it; the quote itself when
    that sentence holds a link or an address, or is long."""
    if not quote or not note:
        return quote
    needle = " ".join(quote.split()).rstrip("…").rstrip()  # the reader cuts a long sentence with "…"
    for sentence in _SENTENCE_END.split(note):
        sentence = " ".join(sentence.split())
        if needle in sentence:
            if len(sentence) <= limit and not _LINKISH.search(sentence):
                return sentence
            break
    return quote


def is_far(owner_location: str | None, inviter_location: str | None) -> bool:
    """Too far for a coffee: both places are known and neither names the other's city (the first part of a
    location, "Lisbon, Portugal" -> "lisbon"). Unknown places are near: the full list of options is offered."""
    if not owner_location or not inviter_location:
        return False
    mine, theirs = fold(owner_location), fold(inviter_location)
    my_city, their_city = mine.split(",")[0].strip(), theirs.split(",")[0].strip()
    return not ((my_city and my_city in theirs) or (their_city and their_city in mine))


def too_old(date_header: str | None, max_age_days: int, now: float | None = None) -> bool:
    """An invitation older than max_age_days (0: no limit) gets no reply. One whose Date header is missing or
    unreadable counts as too old: a reply years late hurts more than one the owner writes by hand."""
    if not max_age_days:
        return False
    try:
        sent = parsedate_to_datetime(date_header).timestamp() if date_header else None
    except (TypeError, ValueError, IndexError):
        sent = None
    return sent is None or (now if now is not None else time.time()) - sent > max_age_days * 86400


def auto_replied(raw: bytes) -> bytes:
    """A draft as it is sent by inboxbot itself: marked as an automatic reply (RFC 3834 section 5), so that other
    responders do not answer it. A draft the owner sends from a mail client is theirs and carries no such mark."""
    return b"Auto-Submitted: auto-replied\r\n" + raw


def _safe_link(url: str | None) -> str | None:
    """A profile link without parameters that could carry a one-time token or tracking (an old `profile/view?id=`
    keeps its id), and none at all if it points at an action such as accepting."""
    if not url or not url.startswith("https://"):
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if not _SECRET_PARAM.search(k)]
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return None if _ACTION.search(url) else url


@dataclass(frozen=True)
class Owner:
    name: str
    email: str
    language: str = "en"
    location: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else ""


class Composer:
    """Loads and checks the templates once; `compose` renders one reply."""

    def __init__(self, owner: Owner, user_dir: Path | None = None,
                 meeting_options: dict[str, tuple[str, ...]] | tuple[str, ...] | None = None) -> None:
        self.owner = owner
        if isinstance(meeting_options, (tuple, list)):  # one list: the English (and default) options
            meeting_options = {"en": tuple(meeting_options)}
        self.meeting_options = {**MEETING_OPTIONS, **{k: tuple(v) for k, v in (meeting_options or {}).items()}}
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
        bare = Invitation(kind=Kind.REMINDER, network="xing", inviter=Person(name="Sam"))
        for name in sorted(self.names):
            if not name.endswith(SUFFIX):
                continue
            language = name.split("/")[0] if "/" in name else "en"
            try:  # both sides of the templates' main branches: a note with every facet, and nothing at all
                self._render(name, sample, _SAMPLE_VERDICT, language)
                self._render(name, bare, Verdict(Decision.ASK, None, (), ()), language)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {exc.filename or name} line {exc.lineno}: {exc.message}") from exc
            except jinja2.TemplateError as exc:  # undefined variables, sandbox refusals
                raise TemplateError(f"template {name}: {exc.message}") from exc
            except ValueError as exc:
                raise TemplateError(f"template {name}: {exc}") from exc
        for name in TEMPLATES:
            if f"{name}{SUFFIX}" not in self.names:
                raise TemplateError(f"the template {name}{SUFFIX} is missing")

    def language_for(self, inv: Invitation) -> str:
        """The note's language when there are templates for it, else the owner's."""
        if inv.language in LANGUAGES or (inv.language and f"{inv.language}/open_question{SUFFIX}" in self.names):
            return inv.language
        return self.owner.language or "en"

    def template_for(self, template: str, language: str | None) -> str:
        if language and f"{language}/{template}{SUFFIX}" in self.names:
            return f"{language}/{template}{SUFFIX}"
        return f"{template}{SUFFIX}"

    def _render(self, name: str, inv: Invitation, verdict: Verdict, language: str) -> tuple[str, str]:
        person = inv.inviter
        options = self.meeting_options.get(language) or self.meeting_options["en"]
        far = is_far(self.owner.location, person.location)
        facets = set(verdict.facets)
        # a misread sentence quoted back is worse than none: below half sure, the templates quote nothing
        sure = verdict.confidence is None or verdict.confidence >= 0.5
        quote = (whole_sentence(inv.note, verdict.quote) or pick_quote(inv.note, verdict.matched)) if sure else None
        if verdict.template == "coffee_invite" and quote and quote.endswith("?"):
            # the reply offers a meeting itself: quoting the inviter's own request for one would say it twice
            quote = first_statement(inv.note) or quote
        if quote:  # the templates put it in double quotes: the quotes inside it become single ones
            quote = quote.translate(_INNER_QUOTES)
        folded_note = fold(inv.note or "")
        variables = {
            "owner": {"name": self.owner.name, "first_name": self.owner.first_name, "email": self.owner.email},
            "inviter": {"name": person.name or "", "first_name": person.first_name or "",
                        "headline": person.headline or "", "company": company_of(person.headline) or "",
                        "role": role_of(person.headline) or "",
                        "location": person.location or "", "email": person.email or "",
                        "profile_url": person.profile_url or ""},
            "network": BRANDS.get(inv.network or "", inv.network or "the network"),
            "note": inv.note or "", "mutual_connections": inv.mutual_connections, "language": language,
            "matched": list(verdict.matched), "decision": verdict.decision.value,
            "reminder": inv.kind is Kind.REMINDER,
            "meeting_options": list(options), "far": far,
            "meeting": CALL.get(language, options[-1]) if far else join_or(options, OR.get(language, "or")),
            "quote": quote or "", "facets": sorted(facets), "confidence": verdict.confidence,
            # without the note reader (confidence None) nothing says what the note left out, or whether it names
            # a family tie: confirm_meeting then asks the one question that suits every claim
            "note_read": verdict.confidence is not None,
            "family": "family" in facets, "said_when": "when" in facets, "said_where": "where" in facets,
            "cites_content": "content" in facets or bool(vocab.find("shared_group", folded_note)
                                                         or vocab.find("compliment", folded_note)),
            "kind_words": bool(vocab.find("compliment", folded_note)),
            "asks_for_contacts": any(_CONTACTS.search(fold(m)) for m in verdict.matched),
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
        language = self.language_for(inv)
        name = self.template_for(verdict.template, language)
        try:
            subject, body = self._render(name, inv, verdict, language)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc
        # only the address the network vouches for (the screening's verdict) is ever a recipient; any other, such
        # as one written in the note, is shown to the owner in the paste-in draft and never used
        to_inviter = bool(verdict.recipient and _ADDRESS.match(verdict.recipient))
        if not to_inviter:
            subject, preface = _paste_in(inv, subject, self.owner.language)
            body = preface + body
        sender = (display_text(self.owner.name), self.owner.email)
        recipient = (display_text(inv.inviter.name or ""), verdict.recipient) if to_inviter else sender
        message_id = draft_message_id(inv, self.owner.email, verdict.template)
        parent = inv.message_id if inv.message_id and re.fullmatch(r"<[!-;=?-~]+>", inv.message_id) else None
        headers = [("From", _address(*sender)), ("To", _address(*recipient)),
                   ("Subject", _encoded(subject)), ("Date", formatdate(time.time(), localtime=True)),
                   ("Message-ID", message_id)]
        if parent:
            headers += [("In-Reply-To", parent), ("References", parent)]
        # nothing machine-only: the draft may leave as it is (the decision is in the ledger)
        headers += [("MIME-Version", "1.0"), ("Content-Type", 'text/plain; charset="utf-8"'),
                    ("Content-Transfer-Encoding", "quoted-printable")]
        # built by hand rather than through EmailMessage: the same bytes at a fifth of the cost (it shows in a
        # backlog of thousands of drafts). Every value is single-line (display_text), encoded where not ASCII.
        # CRLF throughout: servers such as Cyrus refuse bare newlines in APPEND
        head = "".join(f"{name}: {value}\n" for name, value in headers).replace("\n", "\r\n")  # folds too
        raw = head.encode("ascii") + b"\r\n" + \
            quopri.encodestring(body.encode("utf-8")).replace(b"\n", b"\r\n")
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


def _paste_in(inv: Invitation, topic: str, language: str) -> tuple[str, str]:
    """The notification cannot be answered by mail: the draft goes to the owner, ready to paste, with a subject
    that names the inviter (so that Drafts can be told apart) and, in the owner's language, where to paste it and
    where to accept or ignore the invitation: the network's page for that, never the notification's accept link."""
    subject_line, how, profile, decide = PASTE.get(language, PASTE["en"])
    brand = BRANDS.get(inv.network or "", inv.network or "?")
    name = display_text(inv.inviter.name or "") or "?"
    lines = ["[inboxbot] " + how.format(name=name, network=brand)]
    profile_url = _safe_link(inv.inviter.profile_url)
    if profile_url:
        lines.append(f"{profile}: {profile_url}")
    if inv.network in INVITATION_PAGES:
        lines.append(f"{decide}: {INVITATION_PAGES[inv.network]}")
    if inv.inviter.email:  # never a recipient unless the network vouches for it (then this is no paste-in draft)
        lines.append(UNVOUCHED.get(language, UNVOUCHED["en"]).format(network=brand, address=inv.inviter.email))
    return subject_line.format(name=name, network=brand, topic=topic), "\n".join(lines) + f"\n\n{PASTE_MARK}\n\n"


_SAMPLE_VERDICT = Verdict(Decision.ASK, None, (), (), ("met at",), quote="We met at the sample meetup.",
                          confidence=0.9, facets=("when", "where", "content", "family"))
