"""Parser throughput on the corpus mix (one core): `python bench/parse.py [--rounds N]`.

Prints messages/second for parse() alone, and for parse + screen (the pure middle of a pass)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inboxbot import config  # noqa: E402
from inboxbot.notes.reader import read_note  # noqa: E402
from inboxbot.parse import parse  # noqa: E402
from inboxbot.policy.chain import build_chain  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20, help="passes over the corpus (default 20)")
    args = ap.parse_args()
    corpus = ROOT / "tests" / "corpus"
    messages = [p.read_bytes() for p in sorted((corpus / "mail").glob("*.eml"))]
    size = sum(map(len, messages)) / len(messages)
    chain = build_chain(config.load(corpus / "config.toml", need_account=False))
    for raw in messages:  # warm up caches (vocabularies, regexes, the note reader's models): once per process
        chain.screen(parse(raw))
    started = time.perf_counter()
    for _ in range(args.rounds):
        for raw in messages:
            parse(raw)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.rounds):
        read_note.cache_clear()  # a pass reads each note once: the reader's cache must not make later rounds free
        for raw in messages:
            chain.screen(parse(raw))
    both_s = time.perf_counter() - started
    n = args.rounds * len(messages)
    print(f"corpus: {len(messages)} messages, mean {size / 1024:.1f} KiB, {args.rounds} rounds")
    print(f"parse:          {n / parse_s:8.0f} msg/s  ({parse_s / n * 1e3:.2f} ms/msg)")
    print(f"parse + screen: {n / both_s:8.0f} msg/s  ({both_s / n * 1e3:.2f} ms/msg)")


if __name__ == "__main__":
    main()
