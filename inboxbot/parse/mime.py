"""Reading raw RFC 5322 bytes defensively: decoded headers, addresses and the text of a message.

Built on the standard library's `email` package with the `compat32` policy, which never raises on a malformed
header (the modern policy raises on, e.g., a display name that decodes to CR LF). Only text parts are decoded;
attachments are never touched, so a 10 MB attachment costs nothing but the split.
"""
from __future__ import annotations

import email
import email.header
from html.parser import HTMLParser
import email.utils
import html
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from functools import cached_property

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

MAX_TEXT_CHARS = 2_000_000  # a text part longer than this is cut: nobody writes a longer notification
MAX_PARTS = 200  # look at no more than this many MIME parts for text

_FOLD = re.compile(r"\r?\n[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]+")
_WS = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INSCRIPTIS_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=False)


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", value) if "\n" in value else value


def clean_header_text(value: str) -> str:
    """Make a decoded header value safe to show and to reuse: no control characters, single spaces."""
    value = _CONTROL.sub(" ", value.replace("\r", " ").replace("\n", " "))
    return _WS.sub(" ", value).strip()


# what shows nothing or reorders what follows: bidi controls (U+202A-U+202E, U+2066-U+2069, marks), zero-width
# characters and joiners, the soft hyphen, the BOM, C1 controls and interlinear annotations
INVISIBLE = re.compile("[\x80-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
                       "\ufff9-\ufffb]")


def display_text(value: str) -> str:
    """clean_header_text, and nothing invisible: for a header inboxbot writes (a draft's Subject, a display name),
    where a right-to-left override or a zero-width character would make the owner read something else."""
    return clean_header_text(INVISIBLE.sub("", value))


def decode_header_value(value: object) -> str:
    """RFC 2047 decoding that never raises; unknown charsets fall back to UTF-8 with replacement."""
    if value is None:
        return ""
    text = _unfold(str(value))
    if text.isascii() and "=?" not in text:
        return text  # no encoded word: what the decoding gives back, at a fraction of the cost
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # malformed encoded words or an unknown charset: decode chunk by chunk
        pass
    try:
        parts = email.header.decode_header(text)
    except Exception:
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "ascii", errors="replace"))
            except LookupError:
                out.append(chunk.decode("utf-8", errors="replace"))
        else:
            out.append(chunk)
    return "".join(out)


_HIDDEN = re.compile(
    r"<(div|span|p|td)\b[^>]*style=\"[^\"]*(display:\s*none|visibility:\s*hidden|font-size:\s*0[;\"p]|"
    r"max-height:\s*0[;\"p])[^\"]*\"[^>]*>.*?</\1>", re.I | re.S)


def html_to_text(markup: str) -> str:
    """Convert HTML to text with inscriptis (layout-aware: table cells and blocks become lines).
    Hidden preheaders are dropped first: POLICY.md says they never decide anything."""
    markup = _HIDDEN.sub(" ", markup)
    try:
        return get_text(markup, _INSCRIPTIS_CONFIG)
    except Exception:  # inscriptis/lxml choke on some garbage; strip tags crudely rather than lose the text
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))


class _Chunks(HTMLParser):
    """Collects the text nodes of an HTML document, skipping scripts, styles and hidden elements."""

    _SKIP = {"script", "style", "head", "title"}
    _VOID = {"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.stack: list[bool] = []  # per open element: does it hide its content?

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._VOID:
            return
        style = next((v or "" for k, v in attrs if k == "style"), "").replace(" ", "").lower()
        hidden = tag in self._SKIP or any(x in style for x in ("display:none", "visibility:hidden",
                                                                 "font-size:0;", "max-height:0"))
        self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not any(self.stack):
            text = _WS.sub(" ", data.replace("\n", " ")).strip()
            if text:
                self.chunks.append(text)


def html_chunks(markup: str) -> list[str]:
    """The visible text nodes of HTML, in order, whitespace-folded. Fast; no layout."""
    parser = _Chunks()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient, but never let markup break a parse
        pass
    return parser.chunks


def normalize_text(text: str) -> str:
    """Line endings to LF, NBSP and friends to spaces, HTML entities that leaked into text parts decoded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = re.sub(r"&(#\d{1,6}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});", lambda m: html.unescape(m.group(0)), text)
    return text.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")


@dataclass
class Mail:
    """A read-only view of one message. Every accessor is safe on any input."""

    msg: Message
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Mail":
        msg = split_mime(raw) if len(raw) < FAST_SPLIT_MAX else None
        return cls(msg if msg is not None else email.message_from_bytes(raw, policy=compat32))

    @classmethod
    def from_headers(cls, raw_headers: bytes) -> "Mail":
        """A message's header block alone (the byte checks in front of it leave few to read this way)."""
        return cls(email.message_from_bytes(raw_headers, policy=compat32))

    def header(self, name: str) -> str:
        """The first header of that name, decoded and cleaned; '' when absent."""
        key = ("h", name.lower())
        if key not in self._cache:
            value = self._first.get(key[1])
            self._cache[key] = clean_header_text(decode_header_value(value)) if value is not None else ""
        return self._cache[key]

    def headers(self, name: str) -> list[str]:
        """Every header of that name, top to bottom, unfolded but not RFC 2047 decoded."""
        return [_unfold(str(v)) for v in (self.msg.get_all(name) or [])]

    def has(self, name: str) -> bool:
        return name in self.msg

    def address(self, name: str) -> tuple[str, str]:
        """(display name, address) of an address header, both cleaned; address lower-cased."""
        key = ("a", name.lower())
        if key not in self._cache:
            self._cache[key] = self._address(name)
        return self._cache[key]

    @cached_property
    def _first(self) -> dict[str, object]:
        """Lower-cased name -> the first header of that name, as Message.get gives it (which would scan and
        lower-case every header on each call)."""
        first: dict[str, object] = {}
        for name, value in self.msg.items():
            first.setdefault(name.lower(), value)
        return first

    def _address(self, name: str) -> tuple[str, str]:
        raw = self._first.get(name.lower())
        if raw is None:
            return "", ""
        raw_text = _unfold(str(raw))
        try:
            display, addr = email.utils.parseaddr(raw_text)
        except Exception:
            return "", ""
        return clean_header_text(decode_header_value(display)), addr.strip().lower()

    @cached_property
    def _parts(self) -> tuple[str, str]:
        plain: list[str] = []
        markup: list[str] = []
        for count, part in enumerate(self.msg.walk()):
            if count >= MAX_PARTS:
                break
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if ctype not in ("text/plain", "text/html"):
                continue
            if (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
                continue
            text = _decode_part(part)
            (plain if ctype == "text/plain" else markup).append(text)
        return "\n".join(plain), "\n".join(markup)

    @cached_property
    def text(self) -> str:
        """The text/plain parts, normalised."""
        return normalize_text(self._parts[0])

    @property
    def html(self) -> str:
        return self._parts[1]

    @cached_property
    def html_text(self) -> str:
        """The HTML parts converted to text ('' when there are none)."""
        return normalize_text(html_to_text(self.html)) if self.html.strip() else ""

    @property
    def best_text(self) -> str:
        """The text part, or the HTML converted to text when the message has no usable text part."""
        text = self.text
        return text if text.strip() else self.html_text


FAST_SPLIT_MAX = 4_000_000  # bigger messages go to the feed parser (and its limits) unchanged
# patterns that start with a literal LF: the regex engine scans for it quickly (an optional CR first makes it crawl)
_HEADER_BLOCK_END = re.compile(r"\n\r?\n")
_FIELD_BREAK = re.compile(r"\n(?![ \t])")
_FIELD_START = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_NOT_A_FIELD = re.compile(r"\n(?![ \t]|[\x21-\x39\x3b-\x7e]+:)")  # a line that starts no field nor continues one
_STRAY_CR = re.compile(r"\r(?!\n)")  # a line end to the feed parser, not to these patterns


def _fields(block: str) -> Message | None:
    """The Message of a header block without its final line end, or None if it is not plain."""
    if not _FIELD_START.match(block) or _NOT_A_FIELD.search(block) or _STRAY_CR.search(block):
        return None
    msg = Message()
    for field_text in _FIELD_BREAK.split(block):
        name, _, value = field_text.partition(":")
        msg.set_raw(name, value.lstrip(" \t").removesuffix("\r"))
    return msg


def split_mime(raw: bytes) -> Message | None:
    """The tree `email.message_from_bytes(raw, policy=compat32)` builds from well-formed mail, built by splitting
    at the blank lines and the MIME boundaries instead of feeding every line through the feed parser (a third
    of the cost of reading a notification). None for anything unusual — a header defect, a missing or doubled
    boundary, stray CRs, attached messages, deep nesting — which then goes to the feed parser: the result is never
    different, only faster."""
    text = raw.decode("ascii", "surrogateescape")
    return None if _STRAY_CR.search(text) else _split_part(text, 0)


def _split_part(text: str, depth: int) -> Message | None:
    end = _HEADER_BLOCK_END.search(text)
    if depth > 8 or end is None or end.start() == 0:
        return None
    msg = _fields(text[:end.start()].removesuffix("\r"))
    if msg is None:
        return None
    body = text[end.end():]
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None  # an attached message is parsed further by the feed parser
    if maintype != "multipart":
        msg.set_payload(body)
        return msg
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_subtype() == "digest":
        return None  # a digest's parts default to attached messages, which the feed parser reads further
    # searched for after a LF (in the body with one put in front, hence the offsets of one): a literal start is
    # found quickly, a "^" in multi-line mode is tried at every position
    separator = re.compile(r"\n--" + re.escape(boundary) + r"(--)?[ \t]*\r?$", re.M)
    marks = list(separator.finditer("\n" + body))
    if len(marks) < 2 or not marks[-1].group(1) or any(m.group(1) for m in marks[:-1]):
        return None  # no closing boundary, or one before the end: the feed parser knows what to make of it
    parts = []
    for opening, closing in zip(marks, marks[1:]):
        part = _without_line_end(body[opening.end():closing.start()])  # the match ends before the LF
        part = _split_part(part, depth + 1) if part is not None else None
        if part is None:
            return None  # an empty part (two boundary lines in a row) or an unusual one
        parts.append(part)
    preamble = body[:marks[0].start()]
    stripped = _without_line_end(preamble)
    msg.preamble = (preamble if stripped is None else stripped) if preamble else None
    after = body[marks[-1].end() - 1:]
    # a nested part's last line end was cut off above (it belongs to the enclosing boundary); nothing at all
    # after its closing boundary is no epilogue (None), as the feed parser has it
    msg.epilogue = after.removeprefix("\r\n" if after.startswith("\r\n") else "\n") if after or depth == 0 else None
    msg.set_payload(parts)
    return msg


def _without_line_end(text: str) -> str | None:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else None


def _decode_part(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    payload = payload[: MAX_TEXT_CHARS * 4]
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in ("us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1") and _looks_like_utf8(payload):
        charset = "utf-8"
    if charset in ("iso-8859-1", "latin-1", "latin1"):
        charset = "windows-1252"  # a superset in practice: senders label cp1252 text as latin-1
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:
        text = payload.decode("utf-8", errors="replace")
    return text[:MAX_TEXT_CHARS]


def _looks_like_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(b > 0x7F for b in data[:100_000])
