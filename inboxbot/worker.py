"""One pass over one account: fetch new -> parse -> screen -> plan -> apply -> record.

The ledger records a message before anything is done to it and each step after; a pass that was interrupted
resumes the unfinished steps. A message that fails is recorded with its error and the pass goes on; a failing
connection ends the pass (the next one resumes).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Generator

from inboxbot import actions, answers, digest, history
from inboxbot.compose import Composer, auto_replied, body_digest, too_old
from inboxbot.config import Settings, in_range
from inboxbot.errors import InboxbotError, MailboxError
from inboxbot.faults import checkpoint
from inboxbot.learning import Learner
from inboxbot.mail import KEYWORD, Mailbox
from inboxbot.model import Decision, Invitation, Kind, MessageRef, RawMessage, Verdict
from inboxbot.parse import pool as parse_pool
from inboxbot.parse.base import fold
from inboxbot.policy.chain import Chain
from inboxbot.policy.contacts import profile_key
from inboxbot.progress import Progress
from inboxbot.readahead import Fetched, ReadAhead, sorted_batches
from inboxbot.smtp import SendError, SmtpSender
from inboxbot.store import DONE, DRAFTED, ERROR, SENDING, Ledger

log = logging.getLogger("inboxbot")
PARALLEL_FROM = 40  # candidates in one batch from which parsing is spread over every core
ATTEMPTS = 3  # a message whose filing the server refuses this many times is left alone, as an error
WRITE_BATCHES = 25  # decided messages are applied this many fetch batches at a time: fewer, larger IMAP writes
WRITE_BEHIND_BATCHES = 3  # behind the pass, from this many on, as soon as the writes before are done
READ_AHEAD_FROM = 5  # batches of new mail from which a second connection reads ahead (a backlog, not a poll)
HELD_BACK = "held back"  # what a pass reports for a repeat invitation that once_per_inviter_days gives no draft
REPORT_ROWS = 2000  # rows kept for the printed table of one pass; memory must not grow with the backlog
_TOLD_CANNOT_REMOVE: set[str] = set()  # accounts whose server cannot remove one message: said once per process


class _WritesBehind:
    """A backlog's writes, on a thread of their own while the pass decides the next batches: a flush is mostly
    waiting for the server, and the cores can parse meanwhile. One flush at a time, each after the one before, so
    the order of record-then-act is the inline one; the pass waits for it before it uses its connection itself,
    and an error in it is raised in the pass."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, job: Callable[[], None]) -> None:
        self.wait()

        def run() -> None:
            try:
                job()
            except BaseException as exc:  # noqa: B036 -- handed to the pass, which raises it
                self._error = exc
        self._thread = threading.Thread(target=run, name="inboxbot-writes", daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, quiet: bool = False) -> None:
        """Until the flush in hand has ended; raises its error unless `quiet` (the pass is failing already)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and not quiet:
            raise error


@dataclass(frozen=True)
class Handled:
    """One row of a pass report."""

    uid: str
    inviter: str
    network: str
    decision: str
    template: str
    folder: str
    action: str
    reason: str


@dataclass
class PassReport:
    account: str
    dry_run: bool
    handled: list[Handled] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    skipped: int = 0
    errors: int = 0
    sent: int = 0
    too_old: int = 0  # invitations filed without a reply: older than replies.max_age_days
    unfiled: int = 0  # messages that stay in the inbox because the server cannot move mail safely
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: fetch, parse, screen, ...

    def add(self, row: Handled) -> None:
        """Keep a row for the report; a big backlog keeps only the first rows (the counts stay exact)."""
        if len(self.handled) < REPORT_ROWS:
            self.handled.append(row)

    def summary(self) -> str:
        new = sum(self.counts.values())
        if new == 0:
            return f"{self.account}: nothing new" + (" (dry run)" if self.dry_run else "")
        order = ["accept", "ask", "feedback", HELD_BACK, "answer", "decline", "quarantine", "ignore"]
        parts = [f"{new} new"] + [f"{self.counts[d]} {d}" for d in order if self.counts[d]]
        if self.sent:
            parts.append(f"{self.sent} sent")
        if self.too_old:
            parts.append(f"{self.too_old} left unanswered for age")
        if self.errors:
            parts.append(f"{self.errors} failed")
        if self.unfiled:
            parts.append(f"{self.unfiled} left in the inbox unfiled (the server cannot move mail safely)")
        return f"{self.account}: " + " · ".join(parts) + (" (dry run: nothing changed)" if self.dry_run else "")


def inviter_key(inv: Invitation) -> str | None:
    """Who an invitation is from, across messages: the profile path, else the address (one a signature covers: an
    address in the note is the sender's choice), else the name."""
    person = inv.inviter
    key = profile_key(person.profile_url) if person.profile_url else None
    signed = (person.email or "").lower() if person.email_signed_by else ""
    key = key or signed or (fold(person.name) if person.name else None)
    return f"{inv.network}:{key}" if key else None


class Worker:
    def __init__(self, name: str, mailbox: Mailbox, ledger: Ledger, chain: Chain, composer: Composer | None,
                 settings: Settings, should_stop: Callable[[], bool] = lambda: False,
                 sender: SmtpSender | None = None) -> None:
        self.sender = sender
        self.name = name
        self.mailbox = mailbox
        self.ledger = ledger
        self.chain = chain
        self.composer = composer
        self.settings = settings
        self.should_stop = should_stop
        self.folders = dict(settings.folders.values)
        self._drafts: str | None = None
        self._created: set[str] = set()
        self._timings: Counter = Counter()
        self._pending: list[_Item] = []  # decided, not yet applied: written together, WRITE_BATCHES at a time
        # what this pass has decided, for the checks the ledger answers only once it is written: a copy of a
        # message, or a second invitation from an inviter, in the same backlog must not be answered twice
        self._decided_copies: set[tuple[str, str]] = set()  # (Message-ID, record)
        self._drafted_inviters: set[str] = set()
        self._pool: ProcessPoolExecutor | None = None  # parsers on every core, for a backlog
        self._pool_failed = False
        self._behind: _WritesBehind | None = None  # while reading ahead: the pass's connection is the writer's
        self._stages_lock = threading.Lock()
        self._sent_before_pass: int | None = None  # replies sent today before this pass (for max_per_day)
        self._sends_planned = 0
        self._asked: answers.Asked | None = None  # the invitations asked, for recognising answers; once a pass

    # --- the pass ------------------------------------------------------------------------------------------------

    def run_pass(self, dry_run: bool = False) -> PassReport:
        started = time.monotonic()
        report = PassReport(self.name, dry_run)
        self._asked = None
        inbox = self.folders["inbox"]
        pass_id = None if dry_run else self.ledger.start_pass(self.name)
        error = None
        batches = None
        try:
            validity, uidnext = self.mailbox.peek(inbox)
            self._say_if_mail_cannot_be_moved()
            if dry_run:
                self._check_ready()  # what the real run will need, even when nothing is new now
            last, reset = self.ledger.last_uid(self.name, inbox, validity)
            learner = Learner(self.name, self.mailbox, self.ledger, self.settings)
            digest_from = None if dry_run else digest.due(self.ledger, self.name, self.settings.digest.every)
            overdue = [] if dry_run else self._overdue()
            if uidnext is not None and not reset and uidnext - 1 <= last and digest_from is None and \
                    not self.ledger.unfinished(self.name, inbox) and (dry_run or not learner.due()) and not overdue:
                return report  # the idle poll: one round trip, whatever the size of the inbox
            if not dry_run:
                self._check_ready()  # before anything is recorded or changed
            if not dry_run and self.ledger.needs_rebuild(self.name):  # before learning: it reads these records
                history.rebuild(self.name, self.mailbox, self.ledger, self.settings, inviter_key)
            self.chain = self.chain.with_known(*learner.refresh(dry_run))
            if reset:
                log.warning("%s: UIDVALIDITY of %s changed; re-reading it, matching messages by Message-ID so "
                            "nobody is answered twice", self.name, inbox)
            others_ignored = self._others_are_ignored()
            if not dry_run:
                again = self._finish_interrupted(inbox, validity)
                if again:
                    with self._stage("fetch"):
                        retry = self.mailbox.fetch(inbox, again)
                    self._run_batch(retry, report, dry_run)
                    self._flush(report, inbox, validity, last, last)  # done before the same UIDs come round again
            known = frozenset(self.ledger.known_uids(self.name, inbox, validity))
            if not self.mailbox.supports_keywords:
                known |= self.ledger.seen(self.name, f"seen:{inbox}")
            batches = self._new_batches(inbox, last, known, uidnext, others_ignored)
            progress = Progress(f"{self.name}: screening {inbox}", uidnext - 1 - last if uidnext else None)
            high = last  # the highest UID up to which every message is decided
            previous = None  # a batch being parsed (on other cores) while the next one is fetched
            while True:
                with self._stage("fetch"):
                    batch, read_ahead = next(batches, (None, None))
                # a batch may come back empty (all of it expunged meanwhile): only None is the end
                current = self._prepare(batch, report, dry_run, others_ignored, read_ahead) \
                    if batch is not None else None
                progress.advance(len(batch or ()))
                if previous is not None:
                    if self._finish_batch(previous, report, dry_run):
                        high = max([high] + [int(r.ref.uid) for r in previous.batch if r.ref.uid.isdigit()])
                    stopping = self.should_stop()
                    if not dry_run and (stopping or self._write_now()):
                        last = self._flush(report, inbox, validity, high, last)
                    if stopping:
                        log.info("%s: stopping after the message in hand", self.name)
                        break
                if current is None:
                    if uidnext is not None:  # all read: every UID below UIDNEXT was decided or is gone (deleted
                        high = max(high, uidnext - 1)  # unseen); the next idle poll then tells by UIDNEXT alone
                    break
                previous = current
            if not dry_run:
                self._flush(report, inbox, validity, high, last)
            self._stop_writing_behind()
            progress.finish()
            if overdue:
                self._give_up(overdue)
            if digest_from is not None:
                self._digest(digest_from)
        except InboxbotError as exc:
            error = str(exc)
            raise
        finally:
            self._stop_writing_behind(quiet=True)  # failing: let the writes in hand end before the connection does
            if batches is not None:
                batches.close()  # and with it the reading connection
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
            report.seconds = time.monotonic() - started
            report.timings = dict(self._timings)
            if pass_id is not None:
                unfiled = {"unfiled": report.unfiled} if report.unfiled else {}  # `status` tells
                self.ledger.finish_pass(pass_id, dict(report.counts, **unfiled), error)
        return report

    def _check_ready(self) -> None:
        """Fail before any change, not halfway: the folders for drafts (and sent replies) must be there."""
        if self.composer is not None and self.settings.replies.mode != "off":
            self._drafts_folder()
        if self.settings.replies.mode == "send":
            self.mailbox.sent_folder(self.folders.get("sent", ""))

    @property
    def _files_nothing(self) -> bool:
        """A server with neither MOVE nor UIDPLUS cannot remove one message without expunging the whole folder
        (and with it whatever the user marked \\Deleted): then nothing is filed, unless the user asked for copies
        (account.copy_without_move)."""
        return not self.mailbox.can_remove and not self.settings.account.copy_without_move

    def _say_if_mail_cannot_be_moved(self) -> None:
        if self.mailbox.can_remove or self.name in _TOLD_CANNOT_REMOVE:
            return
        _TOLD_CANNOT_REMOVE.add(self.name)
        if self._files_nothing:
            log.warning("%s: the server offers neither MOVE nor UIDPLUS, so inboxbot cannot move mail safely "
                        "(removing one message would expunge the whole folder, with anything you marked deleted): "
                        "it files nothing, marks screened mail with the keyword %s and still saves drafts. Set "
                        "account.copy_without_move = true to have invitations copied into their folders (the "
                        "originals stay in the inbox), or use a server with MOVE or UIDPLUS", self.name, KEYWORD)
        else:
            log.warning("%s: the server offers neither MOVE nor UIDPLUS: as account.copy_without_move asks, "
                        "invitations are copied into their folders and the originals stay in the inbox", self.name)

    def _new_batches(self, inbox: str, last: int, known: frozenset[str], uidnext: int | None,
                     others_ignored: bool) -> Generator[tuple[list[RawMessage], Fetched | None], None, None]:
        """The new mail in batches, in UID order; when other mail is ignored, each batch comes sorted (None: not
        sorted, every message read whole). Read ahead on a second connection for a backlog; should that connection
        fail, the rest is read on this one."""
        ahead = self._read_ahead(inbox, last, known, uidnext) if others_ignored else None
        read_to = last
        if ahead is not None:
            self._start_pool()  # a backlog: the parsers start while the first batches are read
            self._behind = _WritesBehind()
            try:
                for fetched in ahead:
                    read_to = max([read_to] + [int(r.ref.uid) for r in fetched.batch])
                    yield fetched.batch, fetched
                return
            except MailboxError as exc:
                log.warning("%s: the reading connection failed (%s); reading on this one", self.name, exc)
            finally:
                ahead.close()
            self._stop_writing_behind()  # this connection reads again
        size = self.settings.schedule.batch_size
        if not others_ignored:
            for batch in self.mailbox.fetch_new(inbox, read_to, size, known):
                yield batch, None
            return
        headers = self.mailbox.fetch_new(inbox, read_to, size, known, section="HEADER")
        for fetched in sorted_batches(self.mailbox, inbox, headers, size):
            yield fetched.batch, fetched

    def _read_ahead(self, inbox: str, last: int, known: frozenset[str], uidnext: int | None) -> ReadAhead | None:
        """For a big backlog, a second connection that reads the next batches while this one decides and files:
        None for a small pass (not worth a login) or when the server will not have it (the pass goes on alone)."""
        size = self.settings.schedule.batch_size
        if uidnext is None or uidnext - 1 - last < READ_AHEAD_FROM * size:
            return None
        try:
            reader = self.mailbox.reader()
        except MailboxError as exc:
            log.info("%s: no second connection for reading ahead (%s); reading on this one", self.name, exc)
            return None
        return ReadAhead(reader, inbox, last, size, known) if reader is not None else None

    def _others_are_ignored(self) -> bool:
        """Whether the chain ignores a message that claims no network (the default): then such messages are
        judged by their headers alone, and only candidates are read whole."""
        probe = Invitation(kind=Kind.OTHER, network=None, why_kind="probe")
        return self.chain.screen(probe).decision is Decision.IGNORE

    def _digest(self, since: float) -> None:
        """Append the digest of the period that ended; once, even across a crash (its Message-ID is fixed)."""
        until = time.time()
        owner = self.settings.owner
        made = digest.build(self.ledger, self.name, since, until, owner.name, owner.email, self.settings.digest.every,
                            (self.folders["accept"], self.folders["declined"]))
        folder = self.settings.digest.folder or self.folders["inbox"]
        if not self.mailbox.find_message_id(folder, made.message_id):
            self.mailbox.append(folder, [made.raw], ())
        digest.mark_sent(self.ledger, self.name, until)
        log.info("%s: digest appended to %s: %s", self.name, folder, made.subject)

    def _finish_interrupted(self, inbox: str, validity: int) -> list[str]:
        """Messages an interrupted or failed pass left unfinished: if they are gone from the inbox, the move had
        happened; the others are returned, to be taken up again."""
        again = []
        for row in self.ledger.unfinished(self.name, inbox):
            ref = MessageRef(row["folder"], row["uidvalidity"], row["uid"])
            if row["uidvalidity"] != validity or not self.mailbox.exists(ref):
                self.ledger.set_state(self.name, ref, DONE)
                log.info("%s: message %s was filed before an interruption; recorded as done", self.name, ref.uid)
            else:
                again.append(ref.uid)
        return again

    # --- one message ---------------------------------------------------------------------------------------------

    def _run_batch(self, batch: list[RawMessage], report: PassReport, dry_run: bool) -> bool:
        """Decide a batch of messages read whole (to be applied at the next flush). False if a stop cut it short."""
        return self._finish_batch(self._prepare(batch, report, dry_run, others_ignored=False), report, dry_run)

    def _prepare(self, batch: list[RawMessage], report: PassReport, dry_run: bool, others_ignored: bool,
                 fetched: Fetched | None = None) -> "_Prepared":
        """Sort out what needs deciding (network mail not handled before) and start parsing it. When other mail is
        ignored, `fetched` says which messages claim a network and holds them read whole."""
        inbox = self.folders["inbox"]
        candidates: list[tuple[RawMessage, object]] = []
        passed_over: list[str] = []
        with self._stage("ledger"):
            rows = self.ledger.get_many(self.name, [raw.ref for raw in batch])
        for raw, row in zip(batch, rows):
            if row is not None and row["state"] in (DONE, ERROR):
                report.skipped += 1
            elif KEYWORD in raw.flags and row is None:
                report.skipped += 1  # screened in an earlier life of this ledger, or by another instance
            elif others_ignored and row is None and raw.ref.uid not in fetched.claimed and \
                    not self._asked_index().wants_headers(raw.raw):  # an email answer is read whole
                self._record_not_from_a_network(raw, report)
                passed_over.append(raw.ref.uid)
            else:
                candidates.append((raw, row))
        if others_ignored and candidates:  # only messages that claim a network are read whole
            whole = dict(fetched.whole)
            missing = [raw.ref.uid for raw, _ in candidates if raw.ref.uid not in whole]
            if missing:  # only a message an interrupted pass left unfinished
                self._stop_writing_behind()
                with self._stage("fetch"):
                    whole.update((m.ref.uid, m) for m in self.mailbox.fetch(inbox, missing))
            candidates = [(whole[raw.ref.uid], row) for raw, row in candidates if raw.ref.uid in whole]
        if not dry_run and passed_over and not self.mailbox.supports_keywords:  # Maildir: remember the keys
            with self._stage("ledger"):
                self.ledger.mark_seen(self.name, f"seen:{inbox}", passed_over)
        return _Prepared(batch, candidates, self._start_parsing([raw.raw for raw, _ in candidates]))

    def _finish_batch(self, prepared: "_Prepared", report: PassReport, dry_run: bool) -> bool:
        with self._stage("parse+screen"):
            parsed = prepared.parsed()
        items: list[_Item] = []
        complete = True
        for (raw, row), result in zip(prepared.candidates, parsed):
            items.append(self._decide(raw, row, result, report))
            if self.should_stop():
                complete = False
                break
        if not dry_run:
            self._pending.extend(items)
        return complete

    def _flush(self, report: PassReport, inbox: str, validity: int, high: int, last: int) -> int:
        """Apply the decided messages; only then may the UID mark move past them. While another connection reads
        ahead, this happens behind the pass (one flush at a time, in order) and the pass goes on deciding."""
        items, self._pending = self._pending, []

        def apply() -> None:
            if items:
                self._apply_batch(items, report)
            if high > last:
                with self._stage("ledger"):
                    self.ledger.set_last_uid(self.name, inbox, validity, high)
        if self._behind is not None:
            self._behind.start(apply)
        else:
            apply()
        return max(high, last)

    def _write_now(self) -> bool:
        """Whether to flush what is decided: inline, every WRITE_BATCHES batches' worth; behind the pass, as soon as
        the writes before are done (so the last flush, which nothing overlaps, is small)."""
        size, pending = self.settings.schedule.batch_size, len(self._pending)
        if self._behind is not None and pending >= WRITE_BEHIND_BATCHES * size and not self._behind.busy():
            return True
        return pending >= WRITE_BATCHES * size

    def _stop_writing_behind(self, quiet: bool = False) -> None:
        """Wait for the writes in hand (raising what failed them unless `quiet`): the pass's connection is the
        pass's again."""
        if self._behind is not None:
            behind, self._behind = self._behind, None
            behind.wait(quiet)

    def _record_not_from_a_network(self, raw: RawMessage, report: PassReport) -> None:
        report.counts["ignore"] += 1
        report.add(Handled(raw.ref.uid, "-", "-", "ignore", "-", "(stays)", "leave in place",
                                      "not-an-invitation: no social network claims this message"))
        log.debug("%s: message %s is not from a social network → ignore", self.name, raw.ref.uid,
                  extra={"decision": "ignore", "uid": raw.ref.uid})

    def _start_parsing(self, raws: list[bytes]) -> Callable[[], list[parse_pool.Screened]]:
        """Parsing and screening are most of the CPU a backlog costs: once a pass meets a big batch, they run on
        every core, in the background, while the next batch is fetched. Returns how to get the results."""
        cores = os.cpu_count() or 1
        if len(raws) >= PARALLEL_FROM:
            self._start_pool()
        if self._pool is None or len(raws) < 8:
            return lambda: [parse_pool.screened(raw, self.chain) for raw in raws]
        size = max(1, len(raws) // (2 * cores))
        futures = [self._pool.submit(parse_pool.screen_chunk, raws[i:i + size]) for i in range(0, len(raws), size)]

        def results() -> list[parse_pool.Screened]:
            try:
                return [result for future in futures for result in future.result()]
            except (BrokenProcessPool, OSError) as exc:  # no way to run processes here: parse in this one
                log.warning("%s: parsing in parallel failed (%s); going on in one process", self.name, exc)
                if self._pool is not None:
                    self._pool.shutdown(cancel_futures=True)
                self._pool, self._pool_failed = None, True
                return [parse_pool.screened(raw, self.chain) for raw in raws]
        return results

    def _start_pool(self) -> None:
        cores = os.cpu_count() or 1
        if cores > 1 and self._pool is None and not self._pool_failed:
            self._pool = parse_pool.start(cores, self.chain)

    def _decide(self, raw: RawMessage, row, result: parse_pool.Screened, report: PassReport) -> "_Item":
        """Compose and plan one screened message. Pure but for ledger reads and what the pass remembers deciding."""
        ref, (inv, verdict, record) = raw.ref, result
        # a copy is the same Message-ID and the same parsed content: a forgery reusing a handled Message-ID is screened
        if row is None and ((inv.message_id, record) in self._decided_copies
                            or self.ledger.handled_message_id(self.name, inv.message_id, record) is not None):
            report.skipped += 1
            return _Item(ref, row, inv, None, None, None, "duplicate", record)
        if inv.message_id:
            self._decided_copies.add((inv.message_id, record))
        answer = None
        if inv.kind is Kind.OTHER:  # an answer is never an invitation: the asked index and the check are not needed
            asked = self._asked_index()
            answer = asked.recognise(raw.raw, inv, self.chain.authentic(inv)) if asked.rows else None
        if answer is not None:
            return self._decide_answer(raw, row, inv, answer, record, report)
        key = inviter_key(inv)
        with self._stage("render"):
            draft, remark = self._draft_for(inv, verdict, key, ref, report)
        send, why_not = self._may_send(inv, draft, report)
        if why_not:
            remark = "; ".join(x for x in (remark, f"drafted, not sent: {why_not}") if x)
        plan = actions.plan(verdict.decision, self.folders, draft, keywords=self.mailbox.supports_keywords,
                            remark=remark, send=send)
        if plan.folder and self._files_nothing:
            plan = replace(plan, folder=None, flags=(KEYWORD,))
            report.unfiled += 1
        if send and report.dry_run:
            report.sent += 1  # what would be sent; a real pass counts what the server accepted
        reason = verdict.reasons[0] if verdict.reasons else ""
        # a repeat held back by once_per_inviter_days is filed like its decision, but it is not an answered `ask`
        shown = HELD_BACK if draft is None and remark.startswith(HELD_BACK) else verdict.decision.value
        report.counts[shown] += 1
        report.add(Handled(ref.uid, inv.inviter.name or "-", inv.network or "-", shown,
                           "-" if shown == HELD_BACK else verdict.template or "-", plan.folder or "(stays)",
                           plan.describe(), reason))
        # one line per invitation is the log's point; mail no network claims is noise there
        log.log(logging.INFO if inv.network else logging.DEBUG, "%s: message %s %s from %s → %s (%s)", self.name,
                ref.uid, inv.kind.value,
                inv.inviter.name or inv.network or "unknown sender", shown,
                remark if shown == HELD_BACK else reason, extra={"decision": shown, "uid": ref.uid})
        unreadable = inv.error and verdict.decision is not Decision.QUARANTINE  # one that claims a network is filed
        return _Item(ref, row, inv, verdict, key, plan, "unreadable" if unreadable else "act", record)

    def _asked_index(self) -> answers.Asked:
        if self._asked is None:
            self._asked = answers.Asked.load(self.ledger, self.name, self.folders["screening"],
                                             self.settings.owner.email)
        return self._asked

    def _decide_answer(self, raw: RawMessage, row, inv: Invitation, answer: answers.Answer, record: str,
                       report: PassReport) -> "_Item":
        """An inviter's answer: filed beside the invitation it answers, flagged for the owner."""
        keyword = (KEYWORD,) if self.mailbox.supports_keywords else ()
        plan = actions.Plan(Decision.ASK, answer.folder, keyword + ("\\Flagged",), None,
                            remark=f"answers the invitation of {answer.sender}")
        report.counts["answer"] += 1
        report.add(Handled(raw.ref.uid, answer.sender, answer.via, "answer", "-", answer.folder, plan.describe(),
                           f"{answer.reading.summary} — {answer.reading.advice}"))
        log.info("%s: message %s is %s's answer (%s) → %s", self.name, raw.ref.uid, answer.sender,
                 answer.reading.summary, answer.folder, extra={"decision": "answer", "uid": raw.ref.uid})
        return _Item(raw.ref, row, inv, None, None, plan, "act", record, answer)

    def _overdue(self) -> list:
        """The invitations asked longer ago than replies.give_up_after_days and never answered (none when off)."""
        days = self.settings.replies.give_up_after_days
        if not days:
            return []
        return answers.overdue(self.ledger.unanswered(self.name), days,
                               {self.folders["declined"], self.folders["accept"]})

    def _give_up(self, rows: list) -> None:
        """Move the overdue invitations to Declined. Their new place is recorded first: the Declined folder then
        does not teach that the owner blocked them."""
        declined = self.folders["declined"]
        days = self.settings.replies.give_up_after_days
        for row in rows:
            folder = row["location"] or row["target_folder"]
            found = self.mailbox.find_message_id(folder, row["message_id"]) if row["message_id"] else []
            if not found:
                continue  # moved by the owner meanwhile: the learner records where to
            if declined not in self._created:
                self.mailbox.ensure_folder(declined)
                self._created.add(declined)
            with self.ledger.transaction():
                self.ledger.set_location(self.name, row["id"], declined)
            try:
                self.mailbox.move(folder, found[:1], declined)
            except MailboxError:
                with self.ledger.transaction():
                    self.ledger.set_location(self.name, row["id"], folder)
                raise
            log.info("%s: no answer from %s in %d days: their invitation moves to %s", self.name,
                     answers.inviter_name(row), days, declined)

    def _apply_batch(self, items: list["_Item"], report: PassReport) -> None:
        """Record, then reply, then flag, then move — each step for the whole batch at once, each recorded."""
        with self._stage("ledger"), self.ledger.transaction():
            for it in items:
                ref = it.ref
                if it.kind == "duplicate":
                    self.ledger.plan(self.name, ref, it.inv, None, inviter_key=None, target_folder=None,
                                     draft_message_id=None, state=DONE, record=it.record)
                elif it.kind == "unreadable":
                    self.ledger.plan(self.name, ref, it.inv, it.verdict, inviter_key=it.key, target_folder=None,
                                     draft_message_id=None, state=ERROR, error=it.inv.error, record=it.record)
                    report.errors += 1
                    log.warning("%s: message %s could not be read and stays where it is: %s", self.name, ref.uid,
                                it.inv.error)
                elif it.row is None:  # a message resumed from an interrupted pass keeps the state it reached
                    self.ledger.plan(self.name, ref, it.inv, it.verdict, inviter_key=it.key,
                                     target_folder=it.plan.folder,
                                     draft_message_id=it.plan.draft.message_id if it.plan.draft else None,
                                     record=it.record)
                if it.answer is not None:
                    self.ledger.record_answer(self.name, ref, it.inv.message_id, it.answer)
        acting = [it for it in items if it.kind == "act"]
        acting = self._replies(acting, report)
        inbox = self.folders["inbox"]
        by_flags: dict[tuple[str, ...], list[_Item]] = defaultdict(list)
        by_folder: dict[str, list[_Item]] = defaultdict(list)
        for it in acting:
            if it.plan.flags:
                by_flags[it.plan.flags].append(it)
        for flags, group in by_flags.items():
            failed = self._each(group, lambda g, f=flags: self.mailbox.add_flags(inbox, _uids(g), f), report)
            acting = [it for it in acting if it not in failed]
        checkpoint("after-flags")
        for it in acting:
            if it.plan.folder:
                by_folder[it.plan.folder].append(it)
        for folder, group in by_folder.items():
            if folder not in self._created:
                with self._stage("imap writes"):
                    self.mailbox.ensure_folder(folder)
                self._created.add(folder)
            copied = self._copied_before(folder, group)
            # (copies without removal, account.copy_without_move: nothing is left to do for those)
            failed = self._each(copied, lambda g: self.mailbox.delete(inbox, _uids(g)), report) \
                if copied and self.mailbox.can_remove else []
            rest = [it for it in group if it not in copied]
            if rest:
                failed += self._each(rest, lambda g, f=folder: self.mailbox.move(inbox, _uids(g), f), report)
            acting = [it for it in acting if it not in failed]
            checkpoint("after-move")  # some folders filed, the ledger does not know yet
        with self._stage("ledger"), self.ledger.transaction():
            self.ledger.filed(self.name, [it.ref for it in acting])

    def _copied_before(self, folder: str, group: list["_Item"]) -> list["_Item"]:
        """Without MOVE a message is filed by UID COPY, then UID EXPUNGE: a pass cut between the two left the copy
        in the folder and the original in the inbox. Those of the messages resumed from such a pass whose
        Message-ID the folder already holds: they are only to be removed from the inbox, not copied again."""
        if self.mailbox.moves_atomically:
            return []
        with self._stage("imap writes"):
            return [it for it in group if it.row is not None and it.inv.message_id
                    and self.mailbox.find_message_id(folder, it.inv.message_id)]

    def _replies(self, items: list["_Item"], report: PassReport) -> list["_Item"]:
        """Send what is to be sent, append every draft (one MULTIAPPEND for the batch); returns the items that
        may go on to be filed (a failed reply keeps its invitation where it is)."""
        state = {id(it): (it.row["state"] if it.row is not None else None) for it in items}
        for it in items:
            if it.plan.draft is not None and it.plan.send and state[id(it)] not in (DRAFTED, SENDING):
                self._send(it.ref, it.plan.draft, report)
                state[id(it)] = DRAFTED
        pending = [it for it in items if it.plan.draft is not None and state[id(it)] != DRAFTED]
        if not pending:
            return items
        drafts = self._drafts_folder()
        fresh = []
        located: dict[int, tuple[str, str | None]] = {}  # id(item) -> (draft Message-ID, its UID in Drafts)
        for it in pending:
            if state[id(it)] == SENDING:
                log.warning("%s: message %s: a pass stopped while its reply was being sent; it may or may not have "
                            "gone out, so it is saved as a draft instead of being sent again", self.name, it.ref.uid)
            # a crash between APPEND and the ledger update must not leave two drafts: a resumed one looks first
            if it.row is not None:
                message_id = it.row["draft_message_id"] or it.plan.draft.message_id
                found = self.mailbox.find_message_id(drafts, message_id)
                if found:
                    located[id(it)] = (message_id, found[0])
                    continue
            fresh.append(it)

        def append(group: list[_Item]) -> None:
            uids = self.mailbox.append(drafts, [it.plan.draft.raw for it in group], actions.DRAFT_FLAGS)
            for it, uid in zip(group, uids):
                located[id(it)] = (it.plan.draft.message_id, uid)
        failed = self._each(fresh, append, report) if fresh else []
        checkpoint("after-append")  # drafts are on the server, the ledger does not know yet
        with self._stage("ledger"), self.ledger.transaction():
            for it in pending:
                if it not in failed:
                    self.ledger.set_state(self.name, it.ref, DRAFTED, reply="draft")
                    self._record_draft(it.ref, it.plan.draft, drafts, *located.get(id(it), (None, None)))
        return [it for it in items if it not in failed]

    def _record_draft(self, ref: MessageRef, draft, folder: str, message_id: str | None, uid: str | None) -> None:
        self.ledger.set_draft(self.name, ref, message_id=message_id or draft.message_id, folder=folder, uid=uid,
                              to=draft.to_address, digest=body_digest(draft.body))

    def _each(self, group: list["_Item"], write: Callable[[list["_Item"]], None], report: PassReport) -> list:
        """Do a write for the whole group; if the server refuses it, do it one by one to find the culprit.
        Returns the items that failed (recorded as errors, left where they are). A lost connection propagates."""
        try:
            with self._stage("imap writes"):
                write(group)
            return []
        except MailboxError as exc:
            if _connection_lost(exc):
                raise
            if len(group) == 1:
                self._fail(group[0], exc, report)
                return group
        failed = []
        for it in group:
            try:
                with self._stage("imap writes"):
                    write([it])
            except MailboxError as exc:
                if _connection_lost(exc):
                    raise
                self._fail(it, exc, report)
                failed.append(it)
        return failed

    def _fail(self, it: "_Item", exc: MailboxError, report: PassReport) -> None:
        attempts = self.ledger.note_failure(self.name, it.ref, str(exc), ATTEMPTS)
        report.errors += 1
        then = (f"it stays where it is and is tried again next pass (attempt {attempts} of {ATTEMPTS})"
                if attempts < ATTEMPTS else f"it stays where it is; giving up after {ATTEMPTS} attempts (see "
                "`inboxbot status`)")
        log.error("%s: message %s: %s; %s", self.name, it.ref.uid, exc, then)

    @contextmanager
    def _stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._stages_lock:  # the writes behind a pass time their stages too
                self._timings[name] += time.perf_counter() - started

    def _draft_for(self, inv: Invitation, verdict: Verdict, key: str | None, ref: MessageRef, report: PassReport):
        if verdict.template is None or self.composer is None or self.settings.replies.mode == "off":
            return None, ""
        if too_old(inv.date, self.settings.replies.max_age_days):
            report.too_old += 1
            return None, f"no reply: older than replies.max_age_days ({self.settings.replies.max_age_days})"
        days = self.settings.replies.once_per_inviter_days
        if days and key is not None:
            earlier = None if key in self._drafted_inviters else \
                self.ledger.replied_to(self.name, key, time.time() - days * 86400, ref)
            if key in self._drafted_inviters or earlier is not None:
                what = "a reminder" if inv.kind is Kind.REMINDER else "another invitation"
                when = (time.strftime(" on %Y-%m-%d", time.localtime(earlier["first_seen"])) if earlier
                        else " in this pass")
                return None, (f"{HELD_BACK}: no draft, {what} from an inviter who got one{when} "
                              f"(replies.once_per_inviter_days = {days})")
        draft = self.composer.compose(inv, verdict)
        if key is not None:
            self._drafted_inviters.add(key)
        return draft, ""

    def _may_send(self, inv: Invitation, draft, report: PassReport) -> tuple[bool, str]:
        """Send only what may be sent (RFC 3834, the caps, an address of the inviter's own); draft the rest."""
        if draft is None or self.settings.replies.mode != "send" or self.sender is None:
            return False, ""
        replies = self.settings.replies
        if not draft.to_inviter:
            return False, "the inviter can only be reached in the network"
        if inv.no_auto_reply:
            return False, inv.no_auto_reply
        now = time.localtime()
        if in_range(now.tm_hour * 60 + now.tm_min, self.settings.schedule.quiet_hours):
            return False, "quiet hours (schedule.quiet_hours)"
        if self._sent_before_pass is None:
            midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
            self._sent_before_pass = self.ledger.sent_since(self.name, midnight)
        if self._sent_before_pass + self._sends_planned >= replies.max_per_day:
            return False, f"replies.max_per_day ({replies.max_per_day}) reached"
        if self._sends_planned >= replies.max_per_pass:
            return False, f"replies.max_per_pass ({replies.max_per_pass}) reached"
        self._sends_planned += 1
        return True, ""

    def _send(self, ref: MessageRef, draft, report: PassReport) -> None:
        self.ledger.set_state(self.name, ref, SENDING)
        raw = auto_replied(draft.raw)
        try:
            self.sender.send(raw, self.settings.owner.email, draft.to_address)
        except SendError as exc:
            log.error("%s: message %s: %s; the reply is saved as a draft instead", self.name, ref.uid, exc)
            uids = self.mailbox.append(self._drafts_folder(), [draft.raw], actions.DRAFT_FLAGS)
            with self.ledger.transaction():
                self.ledger.set_state(self.name, ref, DRAFTED, reply="draft")
                self._record_draft(ref, draft, self._drafts_folder(), None, uids[0] if uids else None)
            return
        self.ledger.set_state(self.name, ref, DRAFTED, reply="sent")
        report.sent += 1
        log.info("%s: message %s: reply sent to %s", self.name, ref.uid, draft.to_address)
        sent = self.mailbox.sent_folder(self.folders.get("sent", ""))
        if sent:
            self.mailbox.append(sent, [raw], ("\\Seen",))

    def _drafts_folder(self) -> str:
        if self._drafts is None:
            self._drafts = self.mailbox.drafts_folder(self.folders.get("drafts", ""))
        return self._drafts


@dataclass(frozen=True)
class _Prepared:
    """A batch on its way: what was fetched, what needs deciding, and how to get it parsed."""

    batch: list[RawMessage]
    candidates: list[tuple[RawMessage, object]]
    parsed: Callable[[], list[parse_pool.Screened]]


@dataclass(frozen=True, eq=False)
class _Item:
    """One message of a batch on its way through: what was read, decided and planned."""

    ref: MessageRef
    row: object  # its ledger row when an interrupted pass left one
    inv: Invitation
    verdict: Verdict | None
    key: str | None
    plan: actions.Plan | None
    kind: str  # "act", "duplicate" (answered before under another UID) or "unreadable"
    record: str  # the invitation as the ledger keeps it, made where it was parsed
    answer: answers.Answer | None = None  # an inviter's answer, filed beside their invitation


def _uids(items: list[_Item]) -> list[str]:
    return [it.ref.uid for it in items]


def _connection_lost(exc: MailboxError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, (OSError, EOFError)) or "not connected" in str(exc) or "socket" in str(exc).lower()

