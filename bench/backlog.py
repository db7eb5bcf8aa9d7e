"""Backlog benchmark: a first `once` pass over a big inbox, against the same-work floor, in one run.

    python bench/backlog.py                       # 10,000 messages
    python bench/backlog.py --sizes 10000,50000   # and how it scales
    python bench/backlog.py --repeat 5            # the median of 5 runs (single runs vary on a shared machine)
    python bench/backlog.py --rtt 20              # as against a server 20 ms away

A throwaway Dovecot gets two identical mailboxes (30% invitations of every format, the rest ordinary mail). inboxbot
screens one (in a child process, so its peak RSS is its own); the floor does the same IMAP work on the other with
bare imapclient: UID SEARCH + FETCH in the same batch size, MULTIAPPEND of the same drafts, STORE of the same flags
and UID MOVE of the same messages. Prints messages/s for both, the ratio, peak RSS and where inboxbot's time went.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

import imapclient

from common import PASSWORD, ROOT, delayed, dovecot, load_maildir, mailbox_messages, server_cpu, write_config

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + "/bench")
from common import peak_rss_mb
from inboxbot import config
from inboxbot.cli import make_composer, run_one_pass
from inboxbot.policy.chain import build_chain
settings = config.load({cfg!r}).accounts[0]
chain, composer = build_chain(settings), make_composer(settings)
started = time.perf_counter()
report = run_one_pass(settings, chain, composer)
import resource
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"seconds": time.perf_counter() - started, "counts": dict(report.counts),
                   "cpu": [me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime],
                   "timings": dict(getattr(report, "timings", {{}})),
                   "rss_mb": peak_rss_mb()}}))
"""


def run_inboxbot(cfg: Path) -> dict:
    env = {"INBOXBOT_PASSWORD": PASSWORD, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), cfg=str(cfg))], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"inboxbot failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def work_done(server, user: str, state: Path) -> tuple[list[bytes], dict[str, list[int]], dict[tuple, list[int]]]:
    """What inboxbot did, to replay it as the floor: the drafts, the moves per folder, the flags per set."""
    client = server.client(user)
    client.select_folder("Drafts", readonly=True)
    uids = client.search(["ALL"])
    drafts = [d[b"BODY[]"] for d in client.fetch(uids, ["BODY.PEEK[]"]).values()] if uids else []
    client.logout()
    db = sqlite3.connect(state)
    moves: dict[str, list[int]] = defaultdict(list)
    flags: dict[tuple, list[int]] = defaultdict(list)
    flag_sets = {"accept": ("$InboxbotScreened", "\\Flagged"), "decline": ("$InboxbotScreened", "\\Seen")}
    for uid, folder, decision in db.execute("SELECT uid, target_folder, decision FROM messages WHERE state='done'"):
        if folder:
            moves[folder].append(int(uid))
            flags[flag_sets.get(decision, ("$InboxbotScreened",))].append(int(uid))
    return drafts, moves, flags


def run_floor(port: int, user: str, batch: int, drafts: list[bytes], moves: dict, flags: dict) -> float:
    started = time.perf_counter()
    client = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login(user, PASSWORD)
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    for i in range(0, len(uids), batch):
        client.fetch(uids[i:i + batch], ["BODY.PEEK[]", "FLAGS"])
    for i in range(0, len(drafts), batch):
        client.multiappend("Drafts", [{"msg": d, "flags": ("\\Draft", "\\Seen")} for d in drafts[i:i + batch]])
    for flag_set, targets in flags.items():
        for i in range(0, len(targets), batch):
            client.add_flags(targets[i:i + batch], flag_set, silent=True)
    for folder in moves:
        client.create_folder(folder)
    for folder, targets in moves.items():
        for i in range(0, len(targets), batch):
            client.move(targets[i:i + batch], folder)
    client.logout()
    return time.perf_counter() - started


def bench(size: int, batch: int, rtt_ms: float) -> float:
    messages = mailbox_messages(size)
    with dovecot() as server, tempfile.TemporaryDirectory() as tmp, \
            (delayed(server.port, rtt_ms) if rtt_ms else nullcontext(server.port)) as port:
        users = [server.add_user(), server.add_user()]
        for user in users:
            load_maildir(server, user, messages)
        state = Path(tmp) / "state.sqlite3"
        cfg = write_config(Path(tmp) / "config.toml", server, users[0], state, port=port,
                           schedule=f"batch_size = {batch}", replies="once_per_inviter_days = 0")
        before = server_cpu(server)
        ours = run_inboxbot(cfg)
        ours_server = server_cpu(server) - before
        drafts, moves, flags = work_done(server, users[0], state)
        before = server_cpu(server)
        floor = run_floor(port, users[1], batch, drafts, moves, flags)
        floor_server = server_cpu(server) - before
    moved = sum(len(v) for v in moves.values())
    print(f"\n== {size:,} messages ({sum(ours['counts'].values()):,} handled: "
          + ", ".join(f"{v:,} {k}" for k, v in sorted(ours["counts"].items())) + f"); batch size {batch}"
          + (f"; {rtt_ms:g} ms round trip" if rtt_ms else ""))
    print(f"   work: {len(drafts):,} drafts appended, {moved:,} messages moved")
    print(f"   inboxbot once : {ours['seconds']:7.2f} s  {size / ours['seconds']:8,.0f} msg/s   "
          f"peak RSS {ours['rss_mb']:.0f} MB")
    print(f"   same-work floor: {floor:7.2f} s  {size / floor:8,.0f} msg/s   (bare imapclient)")
    print(f"   ratio          : {ours['seconds'] / floor:.2f}x the floor")
    print(f"   cpu            : inboxbot {ours['cpu'][0]:.2f} s, its parse workers {ours['cpu'][1]:.2f} s, Dovecot "
          f"{ours_server:.2f} s (for the floor: Dovecot {floor_server:.2f} s); 2 cores x the pass = "
          f"{2 * ours['seconds']:.2f} s")
    if ours["timings"]:
        total = sum(ours["timings"].values())
        print("   stages         : " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(
            ours["timings"].items(), key=lambda kv: -kv[1])) + f" (sum {total:.2f} s: the writes and the reading "
            "ahead run beside the rest)")
    return ours["seconds"] / floor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000", help="comma-separated mailbox sizes (default 10000)")
    ap.add_argument("--batch", type=int, default=200, help="batch size, as schedule.batch_size (default 200)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per size; with more than one, the median ratio is printed too (a shared machine's "
                         "noise moves single runs by ±20%%)")
    ap.add_argument("--rtt", type=float, default=0,
                    help="milliseconds of round trip added by a proxy in front of the server, as for a distant one "
                         "(both inboxbot and the floor go through it; default 0: loopback)")
    args = ap.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        ratios = sorted(bench(size, args.batch, args.rtt) for _ in range(args.repeat))
        if len(ratios) > 1:
            print(f"\n== {size:,} messages: median ratio {statistics.median(ratios):.2f}x the floor over "
                  f"{len(ratios)} runs (" + ", ".join(f"{r:.2f}" for r in ratios) + ")")


if __name__ == "__main__":
    main()
