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

from inboxbot.parse.mimesplit import FAST_SPLIT_MAX, split_mime

MAX_TEXT_CHARS = 2_000_000  # a text part longer than this is cut: nobody writes a longer notification
MAX_PARTS = 200  # look at no more than this many MIME parts for text

_FOLD = re.compile(r"\r?\n[ \t]+")
_BLANK_LINE = re.compile(rb"\n\r?\n")  # the end of the header block (a literal LF first: a quick scan)
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
    def from_headers(cls, raw: bytes) -> "Mail":
        """A message's header block alone: nothing after the first blank line is read (so a body nested a thousand
        levels deep, which makes the full parse give up, still shows its headers)."""
        end = _BLANK_LINE.search(raw)
        return cls(email.message_from_bytes(raw[:end.end()] if end else raw, policy=compat32))

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
