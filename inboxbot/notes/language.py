"""The language of a note: py3langid's model (shipped in its wheel, no download) restricted to the languages inboxbot
has words for, run on the note's prose only, so links, addresses, handles, numbers and the networks' names cannot
decide it (one-letter URL fragments once made LinkedIn boilerplate "Portuguese")."""
from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

LANGUAGES = ("en", "de", "es", "fr", "pt", "it", "nl", "id")
MIN_PROBABILITY = 0.5  # below it the note is too short or too mixed to tell; the caller falls back to its hint

_NOT_PROSE = re.compile(
    r"\S+@\S+"  # addresses
    r"|(?:https?://|www\.)\S+"  # links
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|co|uk|de|fr|es|it|nl|pt|br|id|example)\b\S*"  # bare domains
    r"|@\w+|#\w+"  # handles, tags
    r"|\b(?:linkedin|xing|facebook)\b"  # the networks' names are the same in every language
    r"|\d+|[^\w\s'’.,;:!?¿¡()-]", re.IGNORECASE)  # numbers, emoji and symbols
_WORD = re.compile(r"[^\W\d_]{2,}")
_ENOUGH = 300  # characters of prose: more does not change the answer, only the time


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """Loaded once per process (a pool worker too), on the first note that needs it: about 0.8 s and 100 MB."""
    # one small matrix-vector product per note: OpenBLAS's threads only spin against the pool's processes (they
    # made parse + screen twice as slow on a busy machine); this must be set before numpy is first imported
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def prose(text: str) -> str:
    """The note without what is not prose (links, addresses, numbers, emoji, the networks' names)."""
    return re.sub(r"\s+", " ", _NOT_PROSE.sub(" ", text)).strip()


def detect_language(text: str) -> str | None:
    """One of LANGUAGES, or None when the note has fewer than two words of prose or the model is unsure."""
    words = prose(text)
    if len(_WORD.findall(words)) < 2:
        return None
    language, probability = _identifier().classify(words[:_ENOUGH])
    return language if probability >= MIN_PROBABILITY else None
