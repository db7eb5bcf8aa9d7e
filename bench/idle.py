"""Idle cost and IDLE latency, against a throwaway Dovecot:

    python bench/idle.py                      # idle poll at 1,000 and 100,000 messages; IDLE latency over 50
    python bench/idle.py --sizes 1000 --latency 20

Idle poll: the daemon keeps its connection between passes; a pass that finds nothing new is timed and its IMAP
commands and bytes counted, on mailboxes of each size. IDLE latency: `inboxbot run` idles on the inbox; a message is
appended and the time until its draft is in Drafts is measured, median and p95.
"""
from __future__ import annotations

import argparse
import imaplib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CORPUS, PASSWORD, ROOT, dovecot, load_maildir, mailbox_messages, write_config


class Counting:
    """Counts the IMAP commands sent and the bytes read, by wrapping imaplib."""

    def __init__(self) -> None:
        self.commands = 0
        self.bytes = 0
        self._command, self._readline, self._read = imaplib.IMAP4._command, imaplib.IMAP4.readline, imaplib.IMAP4.read
        counter = self

        def command(imap, name, *args):
            counter.commands += 1
            return counter._command(imap, name, *args)

        def readline(imap):
            line = counter._readline(imap)
            counter.bytes += len(line)
            return line

        def read(imap, size):
            data = counter._read(imap, size)
            counter.bytes += len(data)
            return data
        imaplib.IMAP4._command, imaplib.IMAP4.readline, imaplib.IMAP4.read = command, readline, read

    def reset(self) -> None:
        self.commands = self.bytes = 0


def idle_poll(sizes: list[int]) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["INBOXBOT_PASSWORD"] = PASSWORD
    from inboxbot import config
    from inboxbot.cli import Session, make_composer
    from inboxbot.policy.chain import build_chain
    counting = Counting()
    for size in sizes:
        with dovecot() as server, tempfile.TemporaryDirectory() as tmp:
            user = server.add_user()
            load_maildir(server, user, mailbox_messages(size, invitation_share=0.0))
            cfg = write_config(Path(tmp) / "c.toml", server, user, Path(tmp) / "s.db")
            cfg.write_text(cfg.read_text().replace("learn_from_sent = false", "learn_from_sent = true", 1))
            settings = config.load(cfg).accounts[0]
            session = Session(settings, build_chain(settings), make_composer(settings))
            session.run()  # the first pass reads the whole mailbox once
            times, commands, volume = [], [], []
            for _ in range(20):
                counting.reset()
                started = time.perf_counter()
                report = session.run()
                times.append(time.perf_counter() - started)
                commands.append(counting.commands)
                volume.append(counting.bytes)
                assert sum(report.counts.values()) == 0
            session.close()
            bare = server.client(user)  # the floor: the server's own cost of one STATUS on this mailbox
            status_times = []
            for _ in range(20):
                started = time.perf_counter()
                bare.folder_status("INBOX", ["UIDVALIDITY", "UIDNEXT"])
                status_times.append(time.perf_counter() - started)
            bare.logout()
        print(f"idle poll, {size:>7,} messages: median {statistics.median(times) * 1000:6.2f} ms, "
              f"{statistics.median(commands):.0f} IMAP commands, {statistics.median(volume):.0f} bytes read "
              f"(20 passes on one connection, Sent index on); a bare STATUS of the same inbox: "
              f"{statistics.median(status_times) * 1000:.2f} ms")


def idle_latency(count: int) -> None:
    with dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        user = server.add_user()
        cfg = write_config(Path(tmp) / "c.toml", server, user, Path(tmp) / "s.db",
                           schedule='interval = "1h"', replies="once_per_inviter_days = 0")
        env = dict(os.environ, INBOXBOT_PASSWORD=PASSWORD, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = server.client(user)
        try:
            time.sleep(2)
            sample = (CORPUS / "mail" / "027-collector-default-en-2020.eml").read_bytes()
            latencies = []
            for i in range(count):
                raw = sample.replace(b"Message-ID: <", f"Message-ID: <lat{i}.".encode(), 1)
                client.select_folder("Drafts", readonly=True)
                before = len(client.search(["ALL"]))
                started = time.perf_counter()
                client.append("INBOX", raw)
                while True:
                    client.select_folder("Drafts", readonly=True)
                    if len(client.search(["ALL"])) > before:
                        break
                    if time.perf_counter() - started > 30:
                        raise SystemExit("no draft within 30 s: is IDLE working?")
                    time.sleep(0.02)
                latencies.append(time.perf_counter() - started)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
            client.logout()
    latencies.sort()
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    print(f"IDLE latency, new mail -> draft, {count} messages: median {statistics.median(latencies):.2f} s, "
          f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000", help="mailbox sizes for the idle poll")
    ap.add_argument("--latency", type=int, default=50, help="messages for the IDLE latency (0: skip)")
    args = ap.parse_args()
    idle_poll([int(s) for s in args.sizes.split(",")])
    if args.latency:
        idle_latency(args.latency)


if __name__ == "__main__":
    main()
