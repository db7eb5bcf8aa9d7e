"""Progress of long work (a first pass over a backlog, a Sent-index build, a replay): a bar with counts and rate on a
terminal, a log line every so often when not on one (the daemon, Docker, systemd)."""
from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("inboxbot")
SHOW_FROM = 1000  # work smaller than this finishes too fast for a bar to help
LOG_EVERY = 30.0  # seconds between log lines when not on a terminal
DRAW_EVERY = 0.2  # seconds between redraws of the bar


class Progress:
    """Counts done out of an expected total (which may be a guess, or unknown: None)."""

    def __init__(self, label: str, total: int | None, *, stream: TextIO | None = None,
                 clock=time.monotonic) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self._shown = 0.0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.active = total is None or total >= SHOW_FROM

    def advance(self, count: int) -> None:
        self.done += count
        if not self.active:
            return
        now = self.clock()
        if now - self._shown >= (DRAW_EVERY if self.tty else LOG_EVERY):
            self._shown = now
            self._show(final=False)

    def finish(self) -> None:
        if self.active and self.done:
            self._show(final=True)

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 24)
            eta = (self.total - self.done) / rate if rate and self.done < self.total else 0
            return (f"{self.label} [{bar:<24}] {self.done:,}/{self.total:,} ({share:.0%}) {rate:,.0f}/s"
                    + (f", about {eta:.0f} s left" if eta >= 1 else ""))
        return f"{self.label}: {self.done:,} so far, {rate:,.0f}/s"

    def _show(self, final: bool) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
            self.stream.flush()
        else:
            log.info("%s", self.line())
