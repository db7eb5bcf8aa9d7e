"""A throwaway Cyrus IMAP for tests: Debian's packages unpacked into a directory of their own by `.ci/cyrus-root`
(cyrus-imapd conflicts with dovecot-imapd, so it is never installed), run from there with LD_LIBRARY_PATH, with
its own config, spool and a free port on 127.0.0.1.

Debian's defaults where they matter to a client: the personal namespace "INBOX." with the separator "."
(altnamespace: no, unixhierarchysep: no), lower-case SPECIAL-USE flags (\\drafts, \\sent), INBOX and its Drafts,
Sent and Trash created at the first login. Passwords are not checked (sasl_pwcheck_method: alwaystrue): every
user name logs in, to a mailbox of its own.
"""
from __future__ import annotations

import itertools
import os
import platform
import socket
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import imapclient

from tests.dovecot import PASSWORD, free_port, stop_master

CYRUS_HINT = ("Cyrus IMAP is not unpacked, so the Cyrus tests are skipped. Run `.ci/cyrus-root` (it downloads "
              "Debian's cyrus-imapd into ~/.cache/inboxbot-ci/cyrus without installing it) and run the tests again.")


class CyrusMissing(RuntimeError):
    pass


def cyrus_root() -> Path:
    directory = os.environ.get("INBOXBOT_CYRUS_DIR") or str(Path.home() / ".cache" / "inboxbot-ci" / "cyrus")
    return Path(directory) / "root"


@dataclass
class Cyrus:
    directory: Path
    port: int
    root: Path
    _users: itertools.count = field(default_factory=lambda: itertools.count(1))
    variant: str = "cyrus"

    def add_user(self) -> str:
        return f"user{next(self._users)}"

    def client(self, user: str) -> imapclient.IMAPClient:
        c = imapclient.IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        c.login(user, PASSWORD)
        return c

    @property
    def _env(self) -> dict[str, str]:
        arch = f"{platform.machine()}-linux-gnu"
        libs = [self.root / "usr" / "lib" / arch, self.root / "lib" / arch]
        return dict(os.environ, LD_LIBRARY_PATH=":".join(map(str, libs)))

    def start(self) -> None:
        d = self.directory
        master = self.root / "usr" / "lib" / "cyrus" / "bin" / "master"
        with open(d / "master.log", "w") as log:
            started = subprocess.run([str(master), "-d", "-C", str(d / "imapd.conf"), "-M", str(d / "cyrus.conf"),
                                      "-p", str(d / "run" / "master.pid")], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self._env)
        if started.returncode != 0:
            raise RuntimeError("Cyrus did not start:\n" + (d / "master.log").read_text())
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Cyrus did not come up within 20 s (it logs to syslog; see {d / 'master.log'})")

    def stop(self) -> None:
        stop_master(self.directory / "run" / "master.pid", kill_after=10.0)


def start_cyrus(d: Path) -> Cyrus:
    root = cyrus_root()
    if not (root / "usr" / "lib" / "cyrus" / "bin" / "master").exists():
        raise CyrusMissing(CYRUS_HINT)
    port = free_port()
    # made beforehand: two imapd processes creating proc/ at once can both fail ("couldn't create proc directory")
    for sub in ("conf", "spool", "run", "run/proc", "run/lock"):
        (d / sub).mkdir()
    user = "nobody" if os.geteuid() == 0 else (os.environ.get("USER") or "nobody")
    (d / "imapd.conf").write_text(textwrap.dedent(f"""\
        configdirectory: {d}/conf
        proc_path: {d}/run/proc
        mboxname_lockpath: {d}/run/lock
        idlesocket: {d}/run/idle
        notifysocket: {d}/run/notify
        lmtpsocket: {d}/run/lmtp
        defaultpartition: default
        partition-default: {d}/spool
        altnamespace: no
        unixhierarchysep: no
        autocreate_quota: 0
        autocreate_inbox_folders: Drafts | Sent | Trash
        xlist-drafts: Drafts
        xlist-sent: Sent
        xlist-trash: Trash
        allowplaintext: yes
        sasl_pwcheck_method: alwaystrue
        sasl_mech_list: PLAIN LOGIN
        cyrus_user: {user}
        imapidlepoll: 1
        syslog_prefix: inboxbot-test-cyrus
        """))
    bin_dir, conf = root / "usr" / "lib" / "cyrus" / "bin", d / "imapd.conf"
    (d / "cyrus.conf").write_text(textwrap.dedent(f"""\
        START {{
          recover cmd="{bin_dir}/ctl_cyrusdb -C {conf} -r"
        }}
        SERVICES {{
          imap cmd="{bin_dir}/imapd -C {conf}" listen="127.0.0.1:{port}" prefork=0
        }}
        EVENTS {{
        }}
        """))
    if os.geteuid() == 0:  # Cyrus drops root for cyrus_user, which must own its files and reach its binaries
        os.chmod(d, 0o755)
        for parent in [*d.parents, *root.parents]:
            if parent != Path("/"):
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        subprocess.run(["chown", "-R", "nobody:", str(d)], check=True)
    server = Cyrus(d, port, root)
    server.start()
    return server
