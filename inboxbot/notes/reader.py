"""Read a note: which intent it carries, how sure the reading is, the sentence that carries it, and why.

Three kinds of evidence feed one small linear model (multinomial logistic regression, trained by `train.py` on the
labelled notes in tests/notes/ and shipped as `model.json`):
- structural cues that need no vocabulary: a link or a domain, a price, a percentage, a phone number, a question,
  two capitalised words (a third person's name), how many words remain once greetings and stop words are gone;
- the phrase lists of inboxbot/vocab (one feature per category found: "past_time", "meeting", "selling", ...), the
  high-precision evidence, in all eight languages;
- Snowball stems of the words (so inflection stops mattering) and character 4-grams (so spelling, typos and
  languages with few listed phrases still carry signal).
The model's probability of the winning intent is the reading's confidence; below SURE the rules treat the note as
unread and the reply is the neutral one.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files

import snowballstemmer

from inboxbot import vocab
from inboxbot.notes.language import detect_language, prose
from inboxbot.parse.base import fold

INTENTS = ("generic", "claim", "compliment", "pitch", "purposeful", "recruiter")
MAX_READ = 1000  # characters of a note read: what a note is about is said well before this (the rest costs time)
SURE = 0.7  # below it a reading is not acted on: 4-fold CV on the training notes, 96% of readings above it right

WHAT_IT_READS_AS = {
    "generic": "a bare wish to connect",
    "claim": "a claimed past meeting or tie",
    "compliment": "a compliment or a shared group, nothing more",
    "pitch": "a sales pitch",
    "purposeful": "a note with a purpose of its own",
    "recruiter": "a recruiter's approach",
}
# the vocab categories whose phrases are shown as what carried each intent
EVIDENCE = {
    "generic": ("generic_connect",),
    "claim": ("acquaintance", "meeting", "referral", "family", "past_time"),
    "compliment": ("compliment", "shared_group", "content", "praise"),
    "pitch": ("sales_pitch", "selling"),
    "purposeful": ("purpose",),
    "recruiter": ("recruiter", "hiring"),
}
CATEGORIES = ("recruiter", "sales_pitch", "generic_connect", "acquaintance", "compliment", "shared_group", "purpose",
              "family", "past_time", "meeting", "referral", "content", "praise", "hiring", "selling")
# how much one feature of each kind counts: the listed phrases and structural cues are few and precise, stems and
# character 4-grams many and vague (chosen by cross-validation on the training split: python -m inboxbot.notes.train)
SCALE = {"s": 2.0, "v": 2.0, "w": 1.0, "c": 0.25}
# evidence of two intents in one note ("loved your post; could we talk?") is a feature of its own
GROUPS = {"claim": ("acquaintance", "meeting", "referral"), "compliment": ("compliment", "shared_group", "content", "praise"),
          "pitch": ("sales_pitch", "selling"), "purpose": ("purpose",), "recruiter": ("recruiter", "hiring")}
STEMMERS = {"en": "english", "de": "german", "es": "spanish", "fr": "french", "pt": "portuguese", "it": "italian",
            "nl": "dutch", "id": "indonesian"}

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|io|co|example|de|fr|es|it|nl|pt|br|id)\b\S*", re.I)
_MONEY = re.compile(r"[$€£¥]\s?\d|\d\s?(?:[$€£¥]|eur|usd|gbp|euro|dollars?|reais|rp)\b|\brp\.?\s?\d", re.I)
_PERCENT = re.compile(r"\d\s?%")
_PHONE = re.compile(r"\+?\d[\d ()/-]{7,}\d")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Ý][a-zà-ÿ]+ [A-ZÀ-Ý][a-zà-ÿ]+\b")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+|\s+[—–]\s+")
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_PLACE = re.compile(r"\b(?:at|in|on|auf|bei|beim|en|a|à|au|em|no|na|di|al|alla|op|bij|di)\s+(?:the |der |dem |la |el |le |o |il |de )?"
                    r"(?:[\w-]+ )?[A-ZÀ-Ý][\w-]+")
_EVENT = re.compile(r"\b(expo|fair|summit|conference|meetup|hackathon|booth|stand|panel|dinner|workshop|congress|messe|"
                    r"tagung|forum|feria|congreso|taller|salon|salao|feira|fiera|convegno|beurs|congres|pameran|"
                    r"konferensi|airport|port|lounge|match|club)\b", re.I)


@dataclass(frozen=True)
class NoteReading:
    """What a note says, as read: the intent, how sure (0..1), the sentence that carries it, what else it holds."""

    intent: str
    confidence: float
    quote: str
    facets: tuple[str, ...]
    reason: str
    language: str | None
    evidence: tuple[str, ...] = ()  # the listed phrases behind the intent ("we met", "our platform")
    runner_up: str | None = None  # the next most likely intent, for explain

    @property
    def sure(self) -> bool:
        return self.confidence >= SURE


@lru_cache(maxsize=1)
def _model() -> tuple[dict[str, tuple[float, ...]], list[float]]:
    """model.json, loaded once per process, each weight multiplied by its feature kind's SCALE."""
    data = json.loads(files(__package__).joinpath("model.json").read_text(encoding="utf-8"))
    assert tuple(data["intents"]) == INTENTS, "model.json was trained for other intents: run inboxbot.notes.train"
    # tuples, not lists: tuples of floats leave the garbage collector's care (thousands of tracked lists would
    # lengthen every collection in a process that mostly parses)
    return {f: tuple(SCALE[f[0]] * x for x in w) for f, w in data["weights"].items()}, data["bias"]


@lru_cache(maxsize=None)
def _stemmer(language: str):
    return snowballstemmer.stemmer(STEMMERS.get(language, "english"))


@lru_cache(maxsize=65536)
def _stem(language: str, word: str) -> str:
    """Snowball is pure Python and slow; the words of notes repeat, so each is stemmed once per process."""
    return _stemmer(language).stemWord(word)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(w for data in vocab.vocabularies().values() for w in data.get("stopwords", ()))


def _languages(language: str | None) -> tuple[str, ...] | None:
    """Whose phrase lists to search: the note's language and English (mixed notes mostly borrow English)."""
    return None if language is None else tuple(sorted({language, "en"}))


def _cues_by_sentence(parts: list[str], language: str | None) -> list[dict[str, list[str]]]:
    """Vocab category -> phrases, for each sentence, from one scan of the whole note per category."""
    folded = [fold(p) for p in parts]
    starts, position = [], 0
    for f in folded:
        starts.append(position)
        position += len(f) + 1
    joined = "\n".join(folded)
    out: list[dict[str, list[str]]] = [{} for _ in parts]
    for category in CATEGORIES:
        for offset, phrase in vocab.find_at(category, joined, _languages(language)):
            out[bisect_right(starts, offset) - 1].setdefault(category, []).append(phrase)
    return out


def _union(per_sentence: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cues in per_sentence:
        for category, phrases in cues.items():
            known = out.setdefault(category, [])
            known.extend(p for p in phrases if p not in known)
    return out


def found_cues(text: str, language: str | None = None) -> dict[str, list[str]]:
    """Vocab category -> phrases found in the (raw) text, for the categories the reader weighs."""
    return _union(_cues_by_sentence(sentences(text) or [text], language))


def structure(text: str) -> list[str]:
    """The structural cues of a text, as readable names: they need no vocabulary."""
    cues = []
    if _URL.search(text):
        cues.append("a link")
    if _MONEY.search(text):
        cues.append("a price")
    if _PERCENT.search(text):
        cues.append("a percentage")
    if _PHONE.search(text):
        cues.append("a phone number")
    if "?" in text:
        cues.append("a question")
    if _NAME.search(text):
        cues.append("a person's name")
    return cues


def features(text: str, language: str | None, first_name: str | None = None,
             cues: dict[str, list[str]] | None = None, grams: bool = True,
             shape: list[str] | None = None) -> set[str]:
    """The model's features of a text: structural cues, vocab categories, stems and (with `grams`) character
    4-grams, the costliest part and not needed to rank a note's sentences against each other."""
    cues = found_cues(text, language) if cues is None else cues
    shape = structure(text) if shape is None else shape
    out = {f"s:{c}" for c in shape} | {f"v:{c}" for c in cues}
    present = [g for g, categories in GROUPS.items() if any(c in cues for c in categories)]
    out.update(f"v:{a}+{b}" for i, a in enumerate(present) for b in present[i + 1:])
    folded = fold(prose(_URL.sub(" ", text)))
    if "recruiter" in cues:
        # "my dad was a recruiter": a family word just before the recruiter word is about someone else
        near_family = re.search(r"\b(my|mein|meine|mi|mon|ma|meu|mio|mijn|saya)\b\W+(\w+\W+){0,2}?"
                                r"(dad|father|mother|mum|mom|vater|mutter|padre|madre|pere|mere|pai|mae|vader|moeder|"
                                r"ayah|ibu)\b", folded)
        out.add("s:recruit_other" if near_family else "s:recruit_self")
    words = _WORDS.findall(folded)
    out.update(f"w:{_stem(language or 'en', w)}" for w in words)
    content = _content_words(folded, cues.get("generic_connect", ()), first_name)
    out.add("s:len" + ("0" if not content else "1" if len(content) <= 1 else "2-4" if len(content) <= 4
                       else "5-9" if len(content) <= 9 else "10+"))
    if grams:
        padded = " " + " ".join(words) + " "
        out.update(f"c:{padded[i:i + 4]}" for i in range(len(padded) - 3))
    return out


def _content_words(folded: str, generic: list[str] | tuple[str, ...], first_name: str | None) -> list[str]:
    """The words left once greetings, "let's connect" phrases, stop words and the owner's first name are gone."""
    for phrase in generic:
        folded = folded.replace(phrase, " ")
    stop = _stopwords() | ({fold(first_name)} if first_name else set())
    return [w for w in _WORDS.findall(folded) if w not in stop and len(w) > 1]


def probabilities(feats: set[str]) -> list[float]:
    weights, bias = _model()
    known = [w for w in map(weights.get, feats) if w is not None]
    scores = [sum(column) for column in zip(bias, *known)]  # one sum per intent, added up in C
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


@lru_cache(maxsize=4096)
def read_note(text: str, language: str | None = None, first_name: str | None = None) -> NoteReading:
    """Read a note (pure; cached: every rule of the chain asks for the same reading)."""
    text = text[:MAX_READ]
    language = language or detect_language(text)
    parts = sentences(text) or [text.strip()]
    per_sentence = _cues_by_sentence(parts, language)
    cues = _union(per_sentence)
    shape = structure(text)
    probs = probabilities(features(text, language, first_name, cues, shape=shape))
    ranked = sorted(range(len(INTENTS)), key=lambda k: -probs[k])
    if probs[ranked[0]] < SURE and cues.get("sales_pitch"):
        # the pitch phrases are few and precise ("introduce me to", "extra income"): where the model is unsure, one
        # of them decides, as sure as the least sure reading that is acted on
        pitch = INTENTS.index("pitch")
        ranked.remove(pitch)
        ranked.insert(0, pitch)
        probs = list(probs)
        probs[pitch] = max(probs[pitch], SURE)
    best, second = ranked[0], ranked[1]
    intent = INTENTS[best]
    quote, quote_cues = parts[0], per_sentence[0]
    if len(parts) > 1:
        quote, quote_cues = _carrier(intent, best, parts, per_sentence, language, first_name)
    evidence = _evidence(intent, quote, quote_cues, cues, text, language)
    facets = _facets(intent, text, cues)
    reading = NoteReading(intent, round(probs[best], 2), _shorten(quote), facets, "", language, evidence,
                          INTENTS[second])
    return _with_reason(reading, shape, probs[second])


def _carrier(intent: str, best: int, parts: list[str], per_sentence: list[dict[str, list[str]]],
             language: str | None, first_name: str | None) -> tuple[str, dict[str, list[str]]]:
    """The sentence that carries the intent: the one with most of its listed phrases; when no sentence has any, the
    one that, read alone, says the intent most strongly."""
    listed = [sum(len(cues.get(c, ())) for c in EVIDENCE[intent]) for cues in per_sentence]
    if max(listed) > 0:
        i = listed.index(max(listed))
        return parts[i], per_sentence[i]
    read_alone = [probabilities(features(s, language, first_name, c, grams=False))[best]
                  for s, c in zip(parts[:8], per_sentence)]
    i = read_alone.index(max(read_alone))
    return parts[i], per_sentence[i]


def _evidence(intent: str, quote: str, in_quote: dict[str, list[str]], cues: dict[str, list[str]],
              text: str, language: str | None) -> tuple[str, ...]:
    """The listed phrases behind the intent, from the quoted sentence when it has any, each pattern's own match (the
    one-scan search keeps only the leftmost of overlapping phrases)."""
    source, present = (quote, in_quote) if any(c in in_quote for c in EVIDENCE[intent]) else (text, cues)
    folded = fold(source)
    phrases = [p for c in EVIDENCE[intent] if c in present for p in vocab.find(c, folded, _languages(language))
               if p != "?"]
    return tuple(dict.fromkeys(phrases))[:4]


def _facets(intent: str, text: str, cues: dict[str, list[str]]) -> tuple[str, ...]:
    facets = []
    if intent == "claim":
        if "family" in cues:
            facets.append("family")
        if "referral" in cues:
            facets.append("referral")
        if "past_time" in cues:
            facets.append("when")
        if _EVENT.search(text) or _PLACE.search(text):
            facets.append("where")
    if intent in ("compliment", "purposeful") and ({"content", "shared_group", "compliment"} & cues.keys()):
        facets.append("content")
    return tuple(facets)


def _shorten(sentence: str, limit: int = 120) -> str:
    """One line, without control or format characters (a right-to-left override must not reorder a reply)."""
    sentence = " ".join("".join(c for c in sentence if unicodedata.category(c) not in ("Cc", "Cf")).split())
    return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"


def _with_reason(reading: NoteReading, shape: list[str], runner_up_probability: float) -> NoteReading:
    reason = f"reads as {WHAT_IT_READS_AS[reading.intent]} ({reading.confidence:.2f}): '{reading.quote}'"
    shown = [f'"{e}"' for e in reading.evidence]
    if reading.intent == "pitch":  # what sells without a listed word: a link, a price, a phone number
        shown += [c for c in shape if c in ("a link", "a price", "a percentage", "a phone number")]
    if shown:
        reason += " — " + ", ".join(shown)
    if not reading.sure:
        reason += f"; unsure (next: {WHAT_IT_READS_AS[reading.runner_up]}, {runner_up_probability:.2f})"
    return replace(reading, reason=reason)
