"""What recognising email answers costs a pass: `Asked.wants_headers` is asked of every message of the inbox that
claims no network (most of it), once inboxbot has asked anyone.

    python bench/answers.py                  # 10,000 header blocks per kind, 1,000 invitations asked
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inboxbot.answers import Asked  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--asked", type=int, default=1000)
    args = parser.parse_args()
    asked = Asked(rows={i: {"name": f"P{i}", "folder": "Invitations/Screening"} for i in range(args.asked)},
                  by_email={f"p{i}@example.org": i for i in range(args.asked)},
                  by_message_id={f"<inboxbot.{i}@example.net>": i for i in range(args.asked)})
    kinds = {
        "ordinary mail": "From: Shop {i} <s{i}@shop.example>\r\nSubject: Your order {i}\r\n",
        "replies in other threads": "From: Friend {i} <f{i}@mail.example>\r\nSubject: Re: lunch\r\n"
                                    "In-Reply-To: <x{i}@mail.example>\r\n",
        "answers (In-Reply-To a draft)": "From: P{i} <q{i}@mail.example>\r\nSubject: Re: Where did we meet?\r\n"
                                         "In-Reply-To: <inboxbot.{j}@example.net>\r\n",
    }
    for kind, template in kinds.items():
        heads = [(template.format(i=i, j=i % args.asked) + f"To: robin@example.net\r\nMessage-ID: <{i}@x.example>"
                  "\r\n\r\n").encode() for i in range(args.messages)]
        started = time.perf_counter()
        matched = sum(asked.wants_headers(h) for h in heads)
        each = (time.perf_counter() - started) / len(heads)
        print(f"{kind:<32} {len(heads):>7,} header blocks, {matched:>7,} answers, {each * 1e6:6.1f} µs each")


if __name__ == "__main__":
    main()
