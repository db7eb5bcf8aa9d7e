"""`inboxbot run`: the daemon. The only importer of apscheduler.

Per account: an APScheduler interval job (one pass at a time, missed runs coalesced) and, where the server offers
it, an IMAP IDLE watcher that starts a pass as soon as new mail arrives. Accounts run in their own threads, so a
slow or broken one does not hold up the others. Failures back off exponentially with jitter (capped by
schedule.backoff_max); a rejected login backs off for schedule.auth_backoff and says so. SIGTERM/SIGINT let the
message in hand finish, log out, and exit 0.
"""
from __future__ import annotations

import logging
import random
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from inboxbot.config import Settings
from inboxbot.errors import AuthenticationFailed, InboxbotError, MailboxError

log = logging.getLogger("inboxbot")
PassFunction = Callable[[Settings, Callable[[], bool]], object]


def backoff_delay(failures: int, cap: float, base: float = 5.0) -> float:
    """Exponential backoff with "equal jitter": between half and all of min(cap, base * 2^(n-1))."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class AccountRunner:
    """Runs the passes of one account: never two at once, with backoff after failures."""

    def __init__(self, settings: Settings, run_pass: PassFunction, stop: threading.Event,
                 scheduler: BlockingScheduler, record: Callable[..., None]) -> None:
        self.settings = settings
        self.name = settings.account.name
        self.run_pass = run_pass
        self.stop = stop
        self.scheduler = scheduler
        self.record = record
        self.lock = threading.Lock()
        self.failures = 0
        self.not_before = 0.0
        self._down = False  # the server could not be reached (by a pass or the IDLE watcher) since it last could
        self._down_lock = threading.Lock()

    def connection(self, up: bool) -> None:
        """Note whether the server answers; the first success after a failure logs one "reconnected" line, whether
        the pass or the IDLE watcher gets through first."""
        with self._down_lock:
            if up and self._down:
                log.info("%s: reconnected", self.name)
            self._down = not up

    def tick(self) -> None:
        if self.stop.is_set() or time.time() < self.not_before:
            return
        with self.lock:  # a pass asked for by IDLE waits for the running one, then runs: nothing is missed
            if self.stop.is_set():
                return
            interval = self.settings.schedule.interval
            try:
                report = self.run_pass(self.settings, self.stop.is_set)
            except AuthenticationFailed as exc:
                self._failed(exc, self.settings.schedule.auth_backoff)
                return
            except InboxbotError as exc:
                if isinstance(exc, MailboxError):
                    self.connection(up=False)
                self._failed(exc, backoff_delay(self.failures + 1, self.settings.schedule.backoff_max))
                return
            self.failures = 0
            self.connection(up=True)
            log.info("%s", report.summary())
            self.record(self.name, next_run=time.time() + interval, success=True)

    def _failed(self, exc: InboxbotError, delay: float) -> None:
        self.failures += 1
        self.not_before = time.time() + delay
        log.error("%s: pass failed: %s — next attempt in %.0f s (failure %d)%s", self.name, exc, delay,
                  self.failures, f"; {exc.hint}" if exc.hint else "")
        self.record(self.name, next_run=self.not_before, success=False, error=str(exc))
        if not self.stop.is_set():
            self.scheduler.add_job(self.tick, "date", run_date=datetime.now(timezone.utc) + timedelta(seconds=delay),
                                   id=f"{self.name}:retry", replace_existing=True)

    def trigger(self) -> None:
        """New mail: run a pass now (or right after the one that is running)."""
        if not self.stop.is_set():
            self.scheduler.add_job(self.tick, id=f"{self.name}:now", replace_existing=True)


def run_forever(settings: Settings, run_pass: PassFunction, watch: Callable | None,
                record: Callable[..., None], reload: Callable[[], Settings] | None = None) -> int:
    """Run until SIGTERM/SIGINT. On SIGHUP, `reload()` reads and checks the config (and templates) again and
    returns it; a bad one is reported and the running config kept."""
    stop = threading.Event()
    accounts = settings.accounts
    scheduler = BlockingScheduler(timezone=timezone.utc,
                                  executors={"default": ThreadPoolExecutor(max(4, 2 * len(accounts)))})
    watchers = []
    runners: dict[str, AccountRunner] = {}
    for account in accounts:
        runner = runners[account.account.name] = AccountRunner(account, run_pass, stop, scheduler, record)
        scheduler.add_job(runner.tick, "interval", seconds=account.schedule.interval, id=runner.name,
                          next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True,
                          misfire_grace_time=account.schedule.interval)
        if watch is not None and account.schedule.idle and account.account.type == "imap":
            thread = threading.Thread(target=_watch_loop, args=(account, watch, runner, stop),
                                      name=f"idle-{runner.name}", daemon=True)
            watchers.append(thread)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    def on_hangup(_signum: int, _frame: object) -> None:
        if reload is not None and not stop.is_set():  # off the signal handler: reading files may take a while
            threading.Thread(target=_reload, args=(reload, runners, scheduler), name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    for thread in watchers:
        thread.start()
    log.info("inboxbot running for %d account(s); stop with SIGTERM or Ctrl-C", len(accounts))
    scheduler.start()
    for thread in watchers:
        thread.join(timeout=3)
    for account in accounts:  # `inboxbot status` must not promise a next pass nobody will run
        record(account.account.name, next_run=None)
    log.info("stopped")
    return 0


def _reload(reload: Callable[[], Settings], runners: dict[str, AccountRunner], scheduler: BlockingScheduler) -> None:
    try:
        fresh = reload()
    except InboxbotError as exc:
        log.error("SIGHUP: the new config was not taken, the running one is kept: %s%s", exc,
                  f" ({exc.hint})" if exc.hint else "")
        return
    names = {account.account.name for account in fresh.accounts}
    for account in fresh.accounts:
        runner = runners.get(account.account.name)
        if runner is None:
            continue
        if account.schedule.interval != runner.settings.schedule.interval:
            scheduler.reschedule_job(runner.name, trigger="interval", seconds=account.schedule.interval)
        runner.settings = account
    if names != set(runners):
        log.warning("SIGHUP: accounts added or removed (%s) take effect when inboxbot run is restarted",
                    ", ".join(sorted(names ^ set(runners))))
    log.info("SIGHUP: config and templates reloaded; the next pass uses them")


def _watch_loop(settings: Settings, watch: Callable, runner: AccountRunner, stop: threading.Event) -> None:
    """Keep an IDLE connection open; reconnect with backoff when it drops. Polling goes on regardless."""
    failures = 0

    def on_ready() -> None:
        runner.connection(up=True)
        if failures:  # after a lost connection, mail may have arrived unannounced: look now
            runner.trigger()
    while not stop.is_set():
        settings = runner.settings  # a reloaded config takes effect at the next (re)connection
        try:
            if watch(settings, runner.trigger, stop, on_ready) is False:
                log.info("%s: the server does not offer IDLE; polling every %ss", settings.account.name,
                         settings.schedule.interval)
                return
            failures = 0
        except AuthenticationFailed as exc:  # retrying soon would only hammer the server (and maybe lock the account)
            failures += 1
            delay = settings.schedule.auth_backoff
            log.error("%s: IDLE stopped: %s — next attempt in %.0f s (schedule.auth_backoff)%s",
                      settings.account.name, exc, delay, f"; {exc.hint}" if exc.hint else "")
            stop.wait(delay)
        except InboxbotError as exc:
            failures += 1
            runner.connection(up=False)
            delay = backoff_delay(failures, settings.schedule.backoff_max)
            log.warning("%s: IDLE stopped (%s); polling every %ss meanwhile, reconnecting in %.0f s",
                        settings.account.name, exc, settings.schedule.interval, delay)
            stop.wait(delay)
