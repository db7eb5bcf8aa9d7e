"""The layouts the parser once misread (tests/parse_cases/README.md), through `inboxbot explain --json`: every
labelled field must come out right, and a result the parser doubts must go to review with no reply."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS

CASES = Path(__file__).parent / "parse_cases"
LABELS = [json.loads(line) for line in (CASES / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
GREETING = re.compile(r"^(?:Hi|Hello|Dear|Hallo|Hola|Bonjour|Ol\u00e1|Ciao|Buongiorno|Hai|Halo|Beste)\b,? *([^,:\n]*)[,:]$",
                      re.M)
FIELDS = ("kind", "network", "authenticity", "note", "mutual_connections", "language", "decision", "template")


def squash(s):
    return None if s is None else re.sub(r"\s+", " ", s).strip()


@pytest.fixture(scope="module")
def explained() -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "inboxbot", "explain", "--config", str(CORPUS / "config.toml"),
                           "--json", *[lab["source"] for lab in LABELS]], cwd=CASES, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {o["source"]: o for o in map(json.loads, done.stdout.splitlines())}


def labelled_fields(lab: dict) -> list[tuple[str, object]]:
    """(field, expected value) for every field the label states."""
    out = [(key, lab[key]) for key in FIELDS if key in lab]
    out += [(f"inviter.{key}", value) for key, value in lab.get("inviter", {}).items()]
    if "doubtful" in lab:
        out.append(("doubtful", lab["doubtful"]))
    return out


def actual(o: dict, field: str) -> object:
    if field == "doubtful":
        return bool(o["doubts"])
    if field.startswith("inviter."):
        return o["inviter"][field.split(".", 1)[1]]
    return o[field]


def right(field: str, want: object, have: object) -> bool:
    if field == "inviter.profile_url":
        return want in (have or "")
    if isinstance(want, str) or isinstance(have, str):
        return squash(have) == squash(want)
    return have == want


@pytest.mark.parametrize("lab", LABELS, ids=[Path(lab["source"]).stem for lab in LABELS])
def test_every_labelled_field(explained, lab):
    o = explained[lab["source"]]
    wrong = [(field, want, actual(o, field)) for field, want in labelled_fields(lab)
             if not right(field, want, actual(o, field))]
    assert not wrong, wrong


def test_a_doubtful_result_goes_to_review_without_a_reply_and_says_why(explained):
    doubtful = [o for o in explained.values() if o["doubts"]]
    assert doubtful
    for o in doubtful:
        assert (o["decision"], o["template"], o["reply"]) == ("ask", None, None)
        assert o["reasons"][0].startswith("doubtful: ") and o["doubts"][0] in o["reasons"][0]


def test_no_draft_greets_anyone_by_a_word_that_is_not_their_name(explained):
    greeted = 0
    for lab in LABELS:
        o = explained[lab["source"]]
        if o["reply"] and "name" in lab.get("inviter", {}):
            word = GREETING.search(o["reply"]["body"]).group(1).strip()
            name = lab["inviter"]["name"]
            assert word in ((name or "").split() or [""]), (lab["source"], word)
            greeted += 1
    assert greeted >= 10


def test_the_labelled_set_covers_every_language_of_the_default_notes():
    for kind in ("guest-invite", "guest-reminder"):
        languages = {lab.get("language") for lab in LABELS if kind in lab["source"]}
        assert languages == {"en", "de", "es", "fr", "pt", "it", "nl", "id"}, kind


def test_explain_says_verified_unverified_or_failed_and_lists_the_doubts():
    files = [next(CASES.glob(f"mail/{n}-*.eml")).name for n in ("003", "024", "026", "027")]
    done = subprocess.run([sys.executable, "-m", "inboxbot", "explain", "--config", str(CORPUS / "config.toml"),
                           *[f"mail/{f}" for f in files]], cwd=CASES, capture_output=True, text=True)
    blocks = done.stdout.split("== ")[1:]
    assert len(blocks) == 4 and not re.search(r"\bauthentic\b", done.stdout, re.I)
    verified, doubtful, forged, old = blocks
    assert "reminder on linkedin, verified" in verified and "doubt:" not in verified
    assert "doubt: the name reads like a sentence" in doubtful and "HIT  doubtful" in doubtful
    assert "on linkedin, FAILED the authenticity checks" in forged
    assert "on linkedin, unverified" in old and "before linkedin signed its mail" in old
