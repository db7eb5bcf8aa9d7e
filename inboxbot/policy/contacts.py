"""Who the owner knows (POLICY.md section 4): vCard and CSV files, allow/block entries, the Sent-folder index.

Matching: emails case-insensitively; `@domain` entries by the address's domain; names after removing invisible
characters (format characters such as U+200D or the soft hyphen, and other default-ignorable ones), NFKC, accent
stripping, case-folding and whitespace folding, equal in full or in their first and last tokens (never a
substring); profile URLs by their identifying path (`in/<vanity>`, `profile/view?id=…`, XING `profile/<Name>`).
The block list also matches look-alikes (a Cyrillic "е" for a Latin "e", by Unicode's confusables data); the
contacts never do: a name that only looks like a contact's is not the contact.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qs, urlsplit

import vobject

from inboxbot.errors import ConfigError
from inboxbot.model import Person
from inboxbot.parse.base import fold


# default-ignorable code points outside category Cf: the grapheme joiner, Hangul fillers, Khmer vowel
# inherents, Mongolian and other variation selectors
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                        "\U000e0100-\U000e01ef]")


def visible(text: str) -> str:
    """Text without the characters that show nothing (category Cf: U+200B-U+200D, U+00AD, bidi controls, ...)."""
    if text.isascii():
        return text
    return _IGNORABLE.sub("", "".join(c for c in text if unicodedata.category(c) != "Cf"))


def name_key(name: str) -> str:
    return re.sub(r"[^\w' -]+", " ", fold(visible(name))).replace("-", " ").strip()


def name_tokens(name: str) -> tuple[str, ...]:
    return tuple(name_key(name).split())


@lru_cache(maxsize=8192)  # the block list is asked about every inviter's name; backlogs repeat names
def lookalike_key(name: str) -> str:
    """The name key with every letter that looks like a Latin one (Unicode's confusables) made that Latin letter,
    before and after case-folding (a Greek capital epsilon looks like "E", its small letter like nothing Latin)."""
    if name.isascii():
        return " ".join(name_tokens(name))
    table = _latin_lookalikes()
    key = name_key("".join(table.get(c, c) for c in visible(name)))
    return " ".join("".join(table.get(c, c) for c in key).casefold().split())


def _first_and_last(key: str) -> tuple[str, ...]:
    """A name key, and its first and last words when it has more than two."""
    words = key.split()
    return (key, f"{words[0]} {words[-1]}") if len(words) > 2 else (key,)


@lru_cache(maxsize=1)
def _latin_lookalikes() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter Unicode's confusables data (as shipped by confusable-homoglyphs)
    says it can be mistaken for. Read once, when a blocked or inviting name first has a non-ASCII letter."""
    data = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    table = {}
    for char, alikes in data.items():
        if len(char) == 1 and not char.isascii():
            letters = sorted(a["c"] for a in alikes if len(a["c"]) == 1 and a["c"].isascii() and a["c"].isalpha())
            if letters:
                table[char] = letters[0]
    return table


def profile_key(url: str) -> str | None:
    """The identifying part of a profile URL: 'in/<vanity>', 'profile/view?id=<id>', 'profile/<Vanity>'."""
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
    except ValueError:
        return None
    path = parts.path.lower().replace("/comm/", "/").strip("/")
    m = re.match(r"^(in|pub)/([^/?#]+)", path)
    if m:
        return f"in/{m.group(2)}"
    if path == "profile/view":
        ids = parse_qs(parts.query).get("id")
        return f"profile/view?id={ids[0]}" if ids else None
    m = re.match(r"^profile/([^/?#]+)", path)
    if m:
        return f"profile/{m.group(1)}"
    return None


@dataclass
class ContactBook:
    """A set of people; `match` says why a person is in it, or returns None."""

    emails: dict[str, str] = field(default_factory=dict)  # address -> where it came from
    domains: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # full name key -> source
    first_last: dict[tuple[str, str], str] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    # the names' lookalike_key, and that of their first and last words, -> source
    lookalike_names: dict[str, str] = field(default_factory=dict)

    def add_email(self, address: str, source: str) -> None:
        if address and "@" in address:
            self.emails.setdefault(address.strip().lower(), source)

    def add_name(self, name: str, source: str) -> None:
        if not name or "@" in name:
            return
        tokens = name_tokens(name)
        if not tokens:
            return
        self.names.setdefault(" ".join(tokens), source)
        for key in _first_and_last(lookalike_key(name)):
            self.lookalike_names.setdefault(key, source)
        if len(tokens) >= 2:
            self.first_last.setdefault((tokens[0], tokens[-1]), source)

    def add_entry(self, entry: str, source: str) -> None:
        """An allow/block entry: an email, '@domain', a profile URL, or a full name."""
        entry = entry.strip()
        if entry.startswith("@"):
            self.domains.setdefault(entry[1:].lower(), source)
        elif "@" in entry:
            self.add_email(entry, source)
        elif "/" in entry and profile_key(entry):
            self.profiles.setdefault(profile_key(entry), source)
        else:
            self.add_name(entry, source)

    def match(self, person: Person, lookalikes: bool = False) -> str | None:
        """Why the person is in the book, or None. `lookalikes`: a name that only looks like one in the book
        matches too (for the block list; a known contact is never matched that way)."""
        if person.email:
            address = person.email.lower()
            if address in self.emails:
                return f"email {person.email} is in {self.emails[address]}"
            domain = address.rpartition("@")[2]
            for listed, source in self.domains.items():
                if domain == listed or domain.endswith("." + listed):
                    return f"email domain @{domain} is in {source}"
        if person.profile_url:
            key = profile_key(person.profile_url)
            if key and key in self.profiles:
                return f"profile {key} is in {self.profiles[key]}"
        if person.name:
            tokens = name_tokens(person.name)
            full = " ".join(tokens)
            if full in self.names:
                return f"name {person.name!r} is in {self.names[full]}"
            if len(tokens) >= 2 and (tokens[0], tokens[-1]) in self.first_last:
                return f"first and last name of {person.name!r} match {self.first_last[(tokens[0], tokens[-1])]}"
            for alike in _first_and_last(lookalike_key(person.name)) if lookalikes else ():
                if alike in self.lookalike_names:
                    return f"name {person.name!r} looks like one in {self.lookalike_names[alike]}"
        return None

    def merged(self, other: "ContactBook") -> "ContactBook":
        """A new book with both books' entries (this one's sources win)."""
        out = ContactBook()
        for attr in ("emails", "domains", "names", "first_last", "profiles", "lookalike_names"):
            getattr(out, attr).update(getattr(other, attr))
            getattr(out, attr).update(getattr(self, attr))
        return out

    def __len__(self) -> int:
        return len(self.emails) + len(self.domains) + len(self.names) + len(self.profiles)


def load_contacts(paths: Iterable[Path], entries: Iterable[str] = (), entries_source: str = "policy.allow",
                  ) -> ContactBook:
    book = ContactBook()
    for path in paths:
        try:
            data = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            raise ConfigError([("policy.contacts", f"cannot read {path}: {exc.strerror}")]) from exc
        if path.suffix.lower() in (".vcf", ".vcard"):
            _read_vcards(data, path.name, book)
        else:
            _read_csv(data, path.name, book)
    for entry in entries:
        book.add_entry(entry, entries_source)
    return book


def _read_vcards(data: str, source: str, book: ContactBook) -> None:
    try:
        cards = list(vobject.readComponents(data, ignoreUnreadable=True))
    except Exception as exc:  # vobject raises its own ParseError family
        raise ConfigError([("policy.contacts", f"{source} is not a readable vCard file: {exc}")]) from exc
    for card in cards:
        for email in card.contents.get("email", []):
            book.add_email(str(email.value), source)
        fn = card.contents.get("fn")
        if fn and str(fn[0].value).strip():
            book.add_name(str(fn[0].value), source)
        elif card.contents.get("n"):
            n = card.n.value
            book.add_name(f"{n.given} {n.family}".strip(), source)
        for url in card.contents.get("url", []):
            key = profile_key(str(url.value))
            if key:
                book.profiles.setdefault(key, source)


_FIRST = ("First Name", "Given Name")
_LAST = ("Last Name", "Family Name")
_EMAIL = ("Email Address", "E-mail 1 - Value", "E-mail Address", "Email")
_URL = ("URL", "Website 1 - Value", "Profile URL")


def _read_csv(data: str, source: str, book: ContactBook) -> None:
    """LinkedIn's Connections.csv (with its 'Notes:' preamble) and Google Contacts exports."""
    lines = data.splitlines()
    header_at = next((i for i, line in enumerate(lines) if re.match(r'^\ufeff?"?(First Name|Name|Given Name)"?,', line)),
                     None)
    if header_at is None:
        raise ConfigError([("policy.contacts", f"{source}: no header row with 'First Name' (LinkedIn) or "
                                               f"'Name'/'Given Name' (Google Contacts) found")])
    for row in csv.DictReader(io.StringIO("\n".join(lines[header_at:]))):
        first = next((row[k] for k in _FIRST if row.get(k)), "")
        last = next((row[k] for k in _LAST if row.get(k)), "")
        name = f"{first} {last}".strip() or row.get("Name", "")
        book.add_name(name, source)
        for key in _EMAIL:
            for address in re.split(r"\s*:::\s*", row.get(key) or ""):
                book.add_email(address, source)
        for key in _URL:
            pk = profile_key(row.get(key) or "")
            if pk:
                book.profiles.setdefault(pk, source)
