"""Shared by the benchmarks: a throwaway Dovecot, a synthetic inbox, and a few measuring helpers."""
from __future__ import annotations

import os
import queue
import random
import re
import resource
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dovecot import PASSWORD, Dovecot, start_dovecot  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


def corpus_groups() -> tuple[list[bytes], list[bytes]]:
    """(invitations of every format incl. forgeries, other mail from the same senders and from people)."""
    import json
    labels = [json.loads(line) for line in (CORPUS / "labels.jsonl").read_text().splitlines()]
    invitations, others = [], []
    for label in labels:
        raw = (CORPUS / label["source"]).read_bytes()
        (invitations if label["kind"] in ("invitation", "reminder") else others).append(raw)
    return invitations, others


def ordinary_mail(i: int, rng: random.Random) -> bytes:
    """A ~10 KB message from a person or a list: what most of an inbox is."""
    words = "the project meeting notes budget review draft agenda thanks please attached schedule update".split()
    body = "\n".join(" ".join(rng.choice(words) for _ in range(14)) for _ in range(110))
    return (f"Return-Path: <sender{i}@example.org>\nFrom: Person {i} <sender{i}@example.org>\n"
            f"To: Robin Castellano <robin.castellano@example.net>\nSubject: Re: {rng.choice(words)} {i}\n"
            f"Date: Mon, 4 Nov 2024 10:00:00 +0000\nMessage-ID: <bench-{i}@example.org>\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def unique(raw: bytes, i: int) -> bytes:
    """Give a corpus message its own Message-ID and inviter, so no two look like the same person."""
    raw = re.sub(rb"(?i)(Message-ID:\s*<)", lambda m: m.group(1) + f"b{i}.".encode(), raw, count=1)
    return raw.replace(b"/in/", f"/in/b{i}-".encode())


def mailbox_messages(count: int, invitation_share: float = 0.3, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    invitations, others = corpus_groups()
    out = []
    for i in range(count):
        if rng.random() < invitation_share:
            out.append(unique(rng.choice(invitations), i))
        elif rng.random() < 0.1:
            out.append(unique(rng.choice(others), i))
        else:
            out.append(ordinary_mail(i, rng))
    return out


def load_maildir(server: Dovecot, user: str, messages: list[bytes]) -> None:
    """Write straight into the user's Maildir before Dovecot looks (much faster than APPEND); Dovecot gives
    UIDs in file-name order."""
    home = server.directory / "mail" / user
    cur = home / "Maildir" / "cur"
    for path in (home, home / "Maildir", cur, home / "Maildir" / "new", home / "Maildir" / "tmp"):
        path.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, server.uid, server.gid)
    base = int(time.time()) - len(messages)
    for i, raw in enumerate(messages):
        path = cur / f"{base + i}.M{i}P1.bench:2,"
        path.write_bytes(raw)
        if os.geteuid() == 0:
            os.chown(path, server.uid, server.gid)


@contextmanager
def dovecot():
    with tempfile.TemporaryDirectory(prefix="inboxbot-bench-") as d:
        server = start_dovecot(Path(d))
        try:
            yield server
        finally:
            server.stop()


def write_config(path: Path, server: Dovecot, user: str, state: Path, port: int | None = None,
                 **sections: str) -> Path:
    text = (f'[account]\nhost = "127.0.0.1"\nport = {port or server.port}\nsecurity = "none"\nusername = "{user}"\n'
            f'[owner]\nname = "Robin Castellano"\nemail = "robin.castellano@example.net"\n'
            f'[policy]\ncontacts = ["{CORPUS / "contacts.vcf"}", "{CORPUS / "Connections.csv"}"]\n'
            f'learn_from_sent = false\n'
            f'[security]\ntrusted_authserv_ids = ["mx.corpus.test"]\n[state]\ndatabase = "{state}"\n')
    for name, body in sections.items():
        text += f"[{name}]\n{body}\n"
    path.write_text(text)
    return path


@contextmanager
def delayed(port: int, rtt_ms: float):
    """A TCP proxy on 127.0.0.1 in front of `port` that delays everything by half the round trip each way, as a
    distant server would (bandwidth is not limited). Yields the proxy's port."""
    listener = socket.create_server(("127.0.0.1", 0))
    half = rtt_ms / 2000

    def pump(src: socket.socket, dst: socket.socket) -> None:
        due: queue.Queue = queue.Queue()

        def send() -> None:
            while (item := due.get()) is not None:
                time.sleep(max(0.0, item[0] - time.monotonic()))
                dst.sendall(item[1])
            dst.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while data := src.recv(65536):
                due.put((time.monotonic() + half, data))
        except OSError:
            pass
        due.put(None)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not inherit the parent's peak
    across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def server_cpu(server: Dovecot) -> float:
    """CPU seconds Dovecot has used so far: its master, the processes it has reaped (each IMAP connection's
    process ends with its connection) and those still running."""
    tick = os.sysconf("SC_CLK_TCK")
    master = int((server.directory / "run" / "master.pid").read_text().strip())
    total = 0
    pids = [master]
    while pids:
        pid = pids.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue  # ended meanwhile
        total += sum(int(f) for f in fields[11:15 if pid == master else 13])  # utime, stime (+ reaped children's)
        pids += [int(c) for c in children]
    return total / tick


__all__ = ["PASSWORD", "dovecot", "delayed", "load_maildir", "mailbox_messages", "write_config", "peak_rss_mb",
           "server_cpu"]
