"""A throwaway Dovecot for tests and benchmarks: its own directory, a free port on 127.0.0.1, passwd-file users.

Facts it relies on (Debian 12, Dovecot 2.3): a standalone config never reads /etc/dovecot; Dovecot refuses to
run mail processes as root, so as root the mail belongs to uid 65534; the daemonised master keeps the caller's
stdout open, so start it with output redirected; stopping signals the master and its children (fast even with a
client in IDLE); auth_failure_delay = 0 for quick failed logins.
"""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import imapclient

DOVECOT_HINT = ("Dovecot is not installed, so the IMAP integration tests are skipped. Install it with "
                "`sudo apt-get install dovecot-imapd` (Debian/Ubuntu) and run the tests again.")
PASSWORD = "test-password-0123"
USERS = 500


class DovecotMissing(RuntimeError):
    pass


def _dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    directory: Path
    port: int
    uid: int
    gid: int
    binary: str
    _users = itertools.count(1)
    tls_port: int | None = None
    variant: str = "full"

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    def add_user(self) -> str:
        """A fresh mailbox for one test (the users are all in the passwd-file from the start: Dovecot notices
        a changed passwd-file only by its mtime, which two quick writes can share)."""
        number = next(self._users)
        assert number <= USERS, "raise USERS in conftest.py"
        return f"user{number}"

    def client(self, user: str) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        c.login(user, PASSWORD)
        return c

    def start(self) -> None:
        d = self.directory
        with open(d / "start.log", "w") as log:
            started = subprocess.run([self.binary, "-c", str(d / "dovecot.conf")], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if started.returncode != 0:
            raise RuntimeError("Dovecot did not start:\n" + (d / "start.log").read_text()
                        + ((d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""))
        # The master listens before it daemonises but writes master.pid only afterwards; wait for both, or a
        # stop() right after start() finds no pid file and leaves a running server behind.
        pid_file = d / "run" / "master.pid"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if pid_file.exists() and pid_file.read_text().strip():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not come up within 10 s; see {d / 'dovecot.log'}")

    def set_quota(self, storage: str) -> None:
        """Give every user a storage quota (e.g. "40K") and restart."""
        conf = self.directory / "dovecot.conf"
        conf.write_text(conf.read_text() + textwrap.dedent(f"""\
            mail_plugins = $mail_plugins quota
            protocol imap {{
              mail_plugins = $mail_plugins imap_quota
            }}
            plugin {{
              quota = maildir:User quota
              quota_rule = *:storage={storage}
            }}
            """))
        self.stop()
        self.start()

    def stop(self) -> None:
        stop_master(self.directory / "run" / "master.pid")

    def deliver(self, user: str, raw: bytes) -> None:
        """Put a message straight into a user's INBOX Maildir (works while the server is down)."""
        home = self.directory / "mail" / user
        new = home / "Maildir" / "new"
        for folder in (home, home / "Maildir", new, home / "Maildir" / "cur", home / "Maildir" / "tmp"):
            if not folder.exists():
                folder.mkdir()
                if os.geteuid() == 0:
                    os.chown(folder, self.uid, self.gid)
        path = new / f"{time.time():.6f}.{os.getpid()}.test"
        path.write_bytes(raw)
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)


def _config(d: Path, port: int, uid: int, gid: int, as_root: bool) -> str:
    users = "" if as_root else textwrap.dedent(f"""\
        default_login_user = {os.environ.get('USER') or 'nobody'}
        default_internal_user = {os.environ.get('USER') or 'nobody'}
        """)
    return textwrap.dedent(f"""\
        base_dir = {d}/run
        state_dir = {d}/state
        instance_name = inboxbot-test-{port}
        log_path = {d}/dovecot.log
        info_log_path = {d}/dovecot.log
        protocols = imap
        listen = 127.0.0.1
        ssl = no
        disable_plaintext_auth = no
        auth_mechanisms = plain login xoauth2 oauthbearer
        auth_failure_delay = 0
        mail_location = maildir:{d}/mail/%u/Maildir
        first_valid_uid = 0
        passdb {{
          driver = passwd-file
          args = scheme=PLAIN username_format=%u {d}/passwd
        }}
        userdb {{
          driver = static
          args = uid={uid} gid={gid} home={d}/mail/%u
        }}
        namespace inbox {{
          inbox = yes
          separator = /
          mailbox Drafts {{
            special_use = \\Drafts
            auto = subscribe
          }}
          mailbox Sent {{
            special_use = \\Sent
            auto = subscribe
          }}
          mailbox Trash {{
            special_use = \\Trash
            auto = subscribe
          }}
        }}
        service imap-login {{
          inet_listener imap {{
            address = 127.0.0.1
            port = {port}
          }}
          inet_listener imaps {{
            port = 0
          }}
        }}
        service stats {{
          unix_listener stats-reader {{
            mode = 0666
          }}
          unix_listener stats-writer {{
            mode = 0666
          }}
        }}
        """) + users


# What Dovecot 2.3 offers after login; a variant advertises a subset (imap_capability replaces the list).
CAPABILITIES = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
                "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
                "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
                "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY "
                "SPECIAL-USE").split()
# The servers people have, as Dovecot configurations: name -> capabilities left out, extra settings.
VARIANTS: dict[str, tuple[frozenset[str], str]] = {
    "full": (frozenset(), ""),
    "no-move": (frozenset({"MOVE"}), ""),
    "no-move-no-uidplus": (frozenset({"MOVE", "UIDPLUS"}), ""),
    "no-multiappend-condstore-idle": (frozenset({"MULTIAPPEND", "CONDSTORE", "QRESYNC", "IDLE"}), ""),
    "inbox-prefix": (frozenset(), ""),  # Courier's and Cyrus's layout: namespace prefix "INBOX.", separator "."
    "inbox-prefix-no-namespace": (frozenset({"NAMESPACE"}), ""),  # the same, but the client must guess it
    "connection-limit": (frozenset(), "mail_max_userip_connections = 2\n"),  # the test's client and one more
}


def _variant(conf: str, variant: str) -> str:
    left_out, extra = VARIANTS[variant]
    if left_out:
        conf += "protocol imap {\n  imap_capability = " + " ".join(c for c in CAPABILITIES if c not in left_out) \
            + "\n}\n"
    if variant.startswith("inbox-prefix"):
        conf = conf.replace("  separator = /\n", "  separator = .\n  prefix = INBOX.\n")
    return conf + extra


def make_test_ca(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.pem, server.pem, key)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=inboxbot test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return d / "ca.pem", d / "server.pem", d / "server.key"


def start_dovecot(d: Path, tls: bool = False, variant: str = "full") -> Dovecot:
    """A Dovecot of its own in directory d, on a free loopback port (and with tls, an imaps port whose
    certificate is signed by a CA of its own: `ca` on the returned object), configured as one of VARIANTS."""
    binary = _dovecot_binary()
    if binary is None:
        raise DovecotMissing(DOVECOT_HINT)
    as_root = os.geteuid() == 0
    uid, gid = (65534, 65534) if as_root else (os.getuid(), os.getgid())
    for sub in ("run", "state", "mail"):
        (d / sub).mkdir()
    (d / "passwd").write_text("".join(f"user{i}:{{PLAIN}}{PASSWORD}\n" for i in range(1, USERS + 1)))
    if as_root:
        os.chmod(d, 0o755)
        for parent in d.parents:  # the mail uid must be able to reach its home
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
        os.chown(d / "mail", uid, gid)
    port = free_port()
    conf = _variant(_config(d, port, uid, gid, as_root), variant)
    tls_port = None
    if tls:
        ca, cert, key = make_test_ca(d)
        tls_port = free_port()
        conf = conf.replace("ssl = no\n", f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n")
        conf = conf.replace("inet_listener imaps {\n    port = 0\n  }",
                            f"inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}")
    (d / "dovecot.conf").write_text(conf)
    server = Dovecot(d, port, uid, gid, binary)
    server.tls_port, server.variant = tls_port, variant
    server.start()
    return server


def stop_master(pid_file: Path, kill_after: float = 20.0) -> None:
    """Stop a mail server's master process (Dovecot's, Cyrus's) whose PID is in pid_file: SIGTERM to it and its
    children — signalling the children too makes the master exit in ~0.1 s instead of ~10 s with a client in IDLE —
    then SIGKILL if it is still there after kill_after seconds (a loaded machine needs them)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    kill_at = int(kill_after / 0.05)
    for attempt in range(kill_at + 200):
        try:
            os.kill(pid, signal.SIGKILL if attempt == kill_at else 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
