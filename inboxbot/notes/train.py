"""Train the note reader's model from labelled notes; writes model.json beside this file.

    python -m inboxbot.notes.train tests/notes/train.jsonl tests/notes/train2.jsonl tests/notes/corpus.jsonl [--cv 4]

Deterministic: the same notes give the same model (fixed shuffling seed, fixed epochs, rounded weights). Only the
training split goes in; the dev split and any test split stay out. --cv K prints K-fold cross-validated accuracy on
the training notes instead of writing the model (how the settings below were chosen).
"""
from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from pathlib import Path

from inboxbot.notes.language import detect_language
from inboxbot.notes.reader import INTENTS, SCALE, features

EPOCHS = 40
RATE = 0.2
L2 = 1e-3
MIN_NOTES = 2  # a feature seen in fewer training notes is dropped (typos of one note teach nothing)


def load(paths: list[str]) -> list[tuple[set[str], int]]:
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                note = json.loads(line)
                rows.append((features(note["text"], detect_language(note["text"])), INTENTS.index(note["intent"])))
    return rows


def train(rows: list[tuple[set[str], int]]) -> tuple[dict[str, list[float]], list[float]]:
    df = Counter(f for feats, _ in rows for f in feats)
    kept = [({f for f in feats if df[f] >= MIN_NOTES}, y) for feats, y in rows]
    n = len(INTENTS)
    weights: dict[str, list[float]] = {f: [0.0] * n for f in df if df[f] >= MIN_NOTES}
    bias = [0.0] * n
    order = list(range(len(kept)))
    rng = random.Random(15)
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = RATE / (1 + epoch / 10)
        for i in order:
            feats, y = kept[i]
            scores = list(bias)
            for f in feats:
                x = SCALE[f[0]]
                for k, w in enumerate(weights[f]):
                    scores[k] += x * w
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            grad = [e / total - (1.0 if k == y else 0.0) for k, e in enumerate(exps)]
            for k in range(n):
                bias[k] -= rate * grad[k]
            for f in feats:
                w, x = weights[f], SCALE[f[0]]
                for k in range(n):
                    w[k] -= rate * (x * grad[k] + L2 * w[k])
    return {f: [round(x, 4) for x in w] for f, w in sorted(weights.items()) if any(abs(x) >= 1e-3 for x in w)}, \
        [round(x, 4) for x in bias]


def predict(weights: dict[str, list[float]], bias: list[float], feats: set[str]) -> int:
    scores = list(bias)
    for f in feats:
        for k, w in enumerate(weights.get(f, ())):
            scores[k] += SCALE[f[0]] * w
    return max(range(len(scores)), key=scores.__getitem__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="labelled notes (JSONL: id, lang, intent, text, why)")
    ap.add_argument("--cv", type=int, default=0, help="K-fold cross-validation on these notes; writes nothing")
    args = ap.parse_args()
    rows = load(args.paths)
    if args.cv:
        right = 0
        for fold_no in range(args.cv):
            weights, bias = train([r for i, r in enumerate(rows) if i % args.cv != fold_no])
            right += sum(predict(weights, bias, f) == y for i, (f, y) in enumerate(rows) if i % args.cv == fold_no)
        print(f"{args.cv}-fold accuracy: {right}/{len(rows)} = {right / len(rows):.3f}")
        return
    weights, bias = train(rows)
    out = Path(__file__).with_name("model.json")
    out.write_text(json.dumps({"intents": list(INTENTS), "bias": bias, "weights": weights}, separators=(",", ":"))
                   + "\n", encoding="utf-8")
    print(f"{out}: {len(rows)} notes, {len(weights)} features, {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
