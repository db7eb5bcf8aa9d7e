"""Per-intent precision and recall of the note reader on a labelled file, overall and per language.

    python tests/notes/evaluate.py tests/notes/dev.jsonl [--wrong]

Each line of the file: {"id", "lang", "intent", "text", "why"}. --wrong lists the notes read wrongly.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inboxbot.notes.reader import INTENTS, read_note  # noqa: E402


def load(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def scores(pairs: list[tuple[str, str]]) -> dict[str, tuple[float, float, int]]:
    """intent -> (precision, recall, support) over (expected, read) pairs; an intent never read has precision 1."""
    out = {}
    for intent in INTENTS:
        tp = sum(1 for want, got in pairs if want == got == intent)
        read = sum(1 for _, got in pairs if got == intent)
        support = sum(1 for want, _ in pairs if want == intent)
        if support or read:
            out[intent] = (tp / read if read else 1.0, tp / support if support else 1.0, support)
    return out


def report(notes: list[dict], show_wrong: bool = False) -> dict[str, tuple[float, float, int]]:
    readings = [(n, read_note(n["text"])) for n in notes]
    pairs = [(n["intent"], r.intent) for n, r in readings]
    overall = scores(pairs)
    right = sum(want == got for want, got in pairs)
    sure = [(n, r) for n, r in readings if r.sure]
    print(f"{len(notes)} notes, {right} read right ({right / len(notes):.3f}); "
          f"language right: {sum(r.language == n['lang'] for n, r in readings)}")
    print(f"sure of {len(sure)} ({len(sure) / len(notes):.3f}), of those right "
          f"{sum(n['intent'] == r.intent for n, r in sure) / max(len(sure), 1):.3f}; "
          f"the other {len(notes) - len(sure)} get the neutral open_question reply")
    print(f"{'intent':<12} {'precision':>9} {'recall':>7} {'n':>4}")
    for intent, (p, r, n) in overall.items():
        print(f"{intent:<12} {p:9.2f} {r:7.2f} {n:4d}")
    by_lang = Counter(n["lang"] for n in notes)
    print("\nper language (precision/recall per intent)")
    for lang in sorted(by_lang):
        sub = [(n["intent"], r.intent) for n, r in readings if n["lang"] == lang]
        cells = "  ".join(f"{i[:5]} {p:.2f}/{r:.2f}" for i, (p, r, _) in scores(sub).items())
        print(f"{lang} ({by_lang[lang]:3d}): {cells}")
    if show_wrong:
        print("\nread wrongly:")
        for n, r in readings:
            if n["intent"] != r.intent:
                print(f"  {n['id']}: {n['intent']} read as {r.intent} ({r.confidence:.2f}): {n['text'][:90]}")
    return overall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--wrong", action="store_true", help="list the notes read wrongly")
    args = ap.parse_args()
    report(load(args.path), args.wrong)


if __name__ == "__main__":
    main()
