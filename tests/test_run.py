"""`inboxbot run`: passes on a schedule, and a clean stop on SIGTERM."""
from __future__ import annotations

import mailbox
import signal
import subprocess
import sys
import time

from tests.conftest import corpus_message


def test_run_passes_on_schedule_and_stops_on_sigterm(tmp_path):
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    box.add(mailbox.MaildirMessage(corpus_message("027")))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{root}"\n[owner]\nname = "Robin Castellano"\n'
                   f'email = "robin.castellano@example.net"\n[schedule]\ninterval = "1s"\n'
                   f'[replies]\nmax_age_days = 0\n'
                   f'[security]\ntrusted_authserv_ids = ["mx.corpus.test"]\n'
                   f'[state]\ndatabase = "{tmp_path / "state.sqlite3"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        drafts = root / ".Drafts" / "cur"
        for _ in range(200):
            if drafts.is_dir() and any(drafts.iterdir()):
                break
            time.sleep(0.05)
        assert drafts.is_dir() and len(list(drafts.iterdir())) == 1
        box.add(mailbox.MaildirMessage(corpus_message("041")))  # arrives while running: the next pass takes it
        for _ in range(100):
            if len(list(drafts.iterdir())) == 2:
                break
            time.sleep(0.05)
        assert len(list(drafts.iterdir())) == 2
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "1 new · 1 ask" in err and "received SIGTERM" in err and "stopped" in err
    assert "Traceback" not in err
