"""`inboxbot run`: passes on a schedule, and a clean stop on SIGTERM."""
from __future__ import annotations

import mailbox
import signal
import subprocess
import sys
import time

from tests.conftest import corpus_message, maildir_config


def test_run_passes_on_schedule_and_stops_on_sigterm(tmp_path):
    root = tmp_path / "Maildir"
    cfg = maildir_config(tmp_path, interval="1s", extra='[security]\ntrusted_authserv_ids = ["mx.corpus.test"]\n')
    proc = subprocess.Popen([sys.executable, "-m", "inboxbot", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        drafts = root / ".Drafts" / "cur"
        for _ in range(200):
            if drafts.is_dir() and any(drafts.iterdir()):
                break
            time.sleep(0.05)
        assert drafts.is_dir() and len(list(drafts.iterdir())) == 1
        # arrives while running: the next pass takes it
        mailbox.Maildir(str(root)).add(mailbox.MaildirMessage(corpus_message("041")))
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
