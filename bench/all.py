"""Every benchmark, one after the other: `python bench/all.py` (needs dovecot-imapd; about 10 minutes).

parse.py (parser throughput), backlog.py at 10,000 and 50,000 messages (end to end against the same-work floor,
peak RSS, per-stage times), idle.py (idle-poll cost at 1,000 and 100,000 messages, IDLE latency over 50 messages),
answers.py (the cost of looking for email answers in mail that claims no network).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script, args in (("parse.py", []), ("backlog.py", ["--sizes", "10000,50000"]),
                     ("idle.py", ["--sizes", "1000,100000", "--latency", "50"]), ("answers.py", [])):
    print(f"\n### {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
