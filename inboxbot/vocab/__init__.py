"""The words the parser and the rules look for, one TOML file per language.

Each file may have: `default_notes` (the networks' built-in invitation texts), `stopwords` (words that carry no
content, for telling a bare "let's connect" from a note that says something), and pattern lists (`recruiter`, `sales_pitch`, `generic_connect`, `acquaintance`,
`compliment`, `shared_group`, `purpose`, and the note reader's cues: `family`, `past_time`, `meeting`, `referral`,
`content`, `praise`, `hiring`, `selling`). Patterns are regular expressions matched against the folded text
(NFKC, accents stripped, lower case), so they are written without accents and in lower case.

The parser's own words are different: `greetings` (words that open a salutation line), `link_labels` (the text before
a link, e.g. "Accept", "Lihat profil X"), `headings` (the network's sentence naming the inviter, with a `name` group),
`footers` (how the network's footer starts), `counts` (the words after "N" in "N connections in common") and
`chrome` (other sentences only the network writes). They are regular expressions matched case-insensitively
against a line as written, accents kept; parse/linkedin.py anchors them.
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib.resources import files

from inboxbot.parse.base import fold


@lru_cache(maxsize=1)
def vocabularies() -> dict[str, dict]:
    out = {}
    for entry in sorted(files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out[entry.name[:-5]] = tomllib.loads(entry.read_text(encoding="utf-8"))
    return out


@lru_cache(maxsize=None)
def patterns(category: str, languages: tuple[str, ...] | None = None) -> tuple[tuple[str, re.Pattern], ...]:
    """(language, compiled pattern) for every pattern of a category, in every language or only the given ones."""
    return tuple((lang, re.compile(p)) for lang, vocab in vocabularies().items()
                 if languages is None or lang in languages for p in vocab.get(category, ()))


@lru_cache(maxsize=None)
def entries(category: str) -> tuple[str, ...]:
    """Every language's entries of a category, without repeats (the parser's line patterns)."""
    return tuple(dict.fromkeys(e for v in vocabularies().values() for e in v.get(category, ())))


@lru_cache(maxsize=1)
def default_notes() -> dict[str, str]:
    """Folded default note text (punctuation dropped) -> language."""
    return {note_key(n): lang for lang, v in vocabularies().items() for n in v.get("default_notes", ())}


def note_key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", fold(text)).strip()


@lru_cache(maxsize=None)
def _any_of(category: str, languages: tuple[str, ...] | None = None) -> re.Pattern:
    """All of a category's patterns as one: a single search tells whether any of them can match."""
    return re.compile("|".join(f"(?:{p.pattern})" for _, p in patterns(category, languages)) or r"(?!)")


def find_at(category: str, text: str, languages: tuple[str, ...] | None = None) -> list[tuple[int, str]]:
    """(offset, phrase) of the phrases of a category found in text (already folded), without repeats, in one scan:
    where two patterns overlap only the leftmost match counts (enough for the note reader, which weighs categories).
    `languages` limits the search to those languages' patterns (a Dutch note need not be searched for Indonesian)."""
    found: dict[str, int] = {}
    for m in _any_of(category, languages).finditer(text):
        phrase = m.group(0).strip()
        if phrase and phrase not in found:
            found[phrase] = m.start()
    return [(offset, phrase) for phrase, offset in found.items()]


def find(category: str, text: str, languages: tuple[str, ...] | None = None) -> list[str]:
    """The phrases of a category found in text (already folded), in order, without repeats."""
    if not _any_of(category, languages).search(text):
        return []  # most texts match nothing of most categories: one search instead of one per pattern
    found: list[str] = []
    for _, pattern in patterns(category, languages):
        for m in pattern.finditer(text):
            phrase = m.group(0).strip()
            if phrase and phrase not in found:
                found.append(phrase)
    return found
