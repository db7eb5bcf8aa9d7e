"""`inboxbot run`: APScheduler runs a pass every schedule.interval, one at a time (missed runs coalesce), until
SIGTERM or SIGINT; a stop request lets the message in hand finish. The only importer of apscheduler."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.blocking import BlockingScheduler

from inboxbot.config import Settings
from inboxbot.errors import InboxbotError

log = logging.getLogger("inboxbot")


def run_forever(settings: Settings, run_pass: Callable[[Callable[[], bool]], object]) -> int:
    stop = threading.Event()
    scheduler = BlockingScheduler(timezone=timezone.utc)

    def job() -> None:
        try:
            report = run_pass(stop.is_set)
            log.info("%s", report.summary())
        except InboxbotError as exc:
            # a pass that failed is retried at the next interval; the ledger makes the retry safe
            log.error("pass failed: %s%s", exc, f" ({exc.hint})" if exc.hint else "")

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    interval = settings.schedule.interval
    scheduler.add_job(job, "interval", seconds=interval, next_run_time=datetime.now(timezone.utc),
                      max_instances=1, coalesce=True, misfire_grace_time=interval, id="pass")
    log.info("inboxbot running: a pass every %ss; stop with SIGTERM or Ctrl-C", interval)
    scheduler.start()
    log.info("stopped")
    return 0
