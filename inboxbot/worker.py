"""One pass over one account: fetch new -> parse -> screen -> plan -> apply -> record.

The ledger records a message before anything is done to it and each step after; a pass that was interrupted
resumes the unfinished steps. A message that fails is recorded with its error and the pass goes on; a failing
connection ends the pass (the next one resumes).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from inboxbot import actions, parse
from inboxbot.compose import Composer
from inboxbot.config import Settings, in_range
from inboxbot.errors import InboxbotError, MailboxError
from inboxbot.mail import KEYWORD, Mailbox
from inboxbot.model import Invitation, Kind, MessageRef, RawMessage, Verdict
from inboxbot.parse.base import fold
from inboxbot.policy.chain import Chain
from inboxbot.policy.contacts import ContactBook, profile_key
from inboxbot.smtp import SendError, SmtpSender
from inboxbot.store import DONE, DRAFTED, ERROR, SENDING, Ledger

log = logging.getLogger("inboxbot")


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
    seconds: float = 0.0

    def summary(self) -> str:
        new = sum(self.counts.values())
        if new == 0:
            return f"{self.account}: nothing new" + (" (dry run)" if self.dry_run else "")
        order = ["accept", "ask", "feedback", "decline", "quarantine", "ignore"]
        parts = [f"{new} new"] + [f"{self.counts[d]} {d}" for d in order if self.counts[d]]
        if self.sent:
            parts.append(f"{self.sent} sent")
        if self.errors:
            parts.append(f"{self.errors} failed")
        return f"{self.account}: " + " · ".join(parts) + (" (dry run: nothing changed)" if self.dry_run else "")


def inviter_key(inv: Invitation) -> str | None:
    """Who an invitation is from, across messages: the profile path, else the address, else the name."""
    person = inv.inviter
    key = profile_key(person.profile_url) if person.profile_url else None
    key = key or (person.email or "").lower() or (fold(person.name) if person.name else None)
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

    # --- the pass ------------------------------------------------------------------------------------------------

    def run_pass(self, dry_run: bool = False) -> PassReport:
        started = time.monotonic()
        report = PassReport(self.name, dry_run)
        inbox = self.folders["inbox"]
        pass_id = None if dry_run else self.ledger.start_pass(self.name)
        error = None
        try:
            if self.settings.policy.learn_from_sent:
                self.chain = self.chain.with_known(self._sent_index(dry_run))
            validity = self.mailbox.uidvalidity(inbox)
            last, reset = self.ledger.last_uid(self.name, inbox, validity)
            if reset:
                log.warning("%s: UIDVALIDITY of %s changed; re-reading it, matching messages by Message-ID so "
                            "nobody is answered twice", self.name, inbox)
            if not dry_run:
                self._finish_interrupted(inbox, validity)
            known = frozenset(self.ledger.known_uids(self.name, inbox, validity))
            for batch in self.mailbox.fetch_new(inbox, last, self.settings.schedule.batch_size, known):
                for raw in batch:
                    self._handle(raw, report, dry_run)
                    if self.should_stop():
                        break
                if batch and not dry_run:
                    high = max((int(r.ref.uid) for r in batch if r.ref.uid.isdigit()), default=last)
                    if high > last and not self.should_stop():
                        self.ledger.set_last_uid(self.name, inbox, validity, high)
                        last = high
                if self.should_stop():
                    log.info("%s: stopping after the message in hand", self.name)
                    break
        except InboxbotError as exc:
            error = str(exc)
            raise
        finally:
            report.seconds = time.monotonic() - started
            if pass_id is not None:
                self.ledger.finish_pass(pass_id, dict(report.counts), error)
        return report

    def _sent_index(self, dry_run: bool) -> ContactBook:
        """People the owner has written to (To/Cc of the Sent folder), kept in the ledger and refreshed with only
        the Sent messages that are new since the last pass (headers only, batched)."""
        people = self.ledger.sent_contacts(self.name)
        folder = self.mailbox.sent_folder(self.folders.get("sent", ""))
        if folder is None:
            log.debug("%s: no Sent folder found; the Sent index is not refreshed", self.name)
        else:
            validity = self.mailbox.uidvalidity(folder)
            mark = f"sent:{folder}"
            last, _ = self.ledger.last_uid(self.name, mark, validity)
            seen = self.ledger.seen(self.name, mark) if not self.mailbox.supports_keywords else frozenset()
            for batch in self.mailbox.fetch_new(folder, last, 500, seen, header_fields=("To", "Cc")):
                found = [p for raw in batch for p in parse.recipients(raw.raw)]
                people += found
                if dry_run:
                    continue
                with self.ledger.transaction():
                    self.ledger.add_sent_contacts(self.name, found)
                    uids = [int(r.ref.uid) for r in batch if r.ref.uid.isdigit()]
                    if uids:
                        last = max(last, *uids)
                        self.ledger.set_last_uid(self.name, mark, validity, last)
                    else:
                        self.ledger.mark_seen(self.name, mark, [r.ref.uid for r in batch])
        book = ContactBook()
        for address, name in people:
            book.add_email(address, "your Sent folder")
            book.add_name(name or "", "your Sent folder")
        return book

    def _finish_interrupted(self, inbox: str, validity: int) -> None:
        """Messages planned in an interrupted pass: if they are gone from the inbox, the move had happened."""
        for row in self.ledger.unfinished(self.name, inbox):
            ref = MessageRef(row["folder"], row["uidvalidity"], row["uid"])
            if row["uidvalidity"] != validity or not self.mailbox.exists(ref):
                self.ledger.set_state(self.name, ref, DONE)
                log.info("%s: message %s was filed before an interruption; recorded as done", self.name, ref.uid)

    # --- one message ---------------------------------------------------------------------------------------------

    def _handle(self, raw: RawMessage, report: PassReport, dry_run: bool) -> None:
        ref = raw.ref
        row = self.ledger.get(self.name, ref)
        if row is not None and row["state"] in (DONE, ERROR):
            report.skipped += 1
            return
        if KEYWORD in raw.flags and row is None:
            report.skipped += 1  # screened in an earlier life of this ledger, or by another instance
            return
        inv = parse.parse(raw.raw)
        earlier = self.ledger.handled_message_id(self.name, inv.message_id) if row is None else None
        if earlier is not None:
            report.skipped += 1
            if not dry_run:
                self.ledger.plan(self.name, ref, inv, None, inviter_key=None, target_folder=None,
                                 draft_message_id=None, state=DONE)
            return
        verdict = self.chain.screen(inv)
        key = inviter_key(inv)
        draft, remark = self._draft_for(inv, verdict, key, ref)
        send, why_not = self._may_send(inv, draft, report)
        if why_not:
            remark = "; ".join(x for x in (remark, f"drafted, not sent: {why_not}") if x)
        plan = actions.plan(verdict.decision, self.folders, draft, keywords=self.mailbox.supports_keywords,
                            remark=remark, send=send)
        if send and dry_run:
            report.sent += 1  # what would be sent; a real pass counts what the server accepted
        reason = verdict.reasons[0] if verdict.reasons else ""
        report.counts[verdict.decision.value] += 1
        report.handled.append(Handled(ref.uid, inv.inviter.name or "-", inv.network or "-", verdict.decision.value,
                                      verdict.template or "-", plan.folder or "(stays)", plan.describe(), reason))
        log.info("%s: message %s %s from %s → %s (%s)", self.name, ref.uid, inv.kind.value,
                 inv.inviter.name or inv.network or "unknown sender", verdict.decision.value, reason,
                 extra={"decision": verdict.decision.value, "uid": ref.uid})
        if dry_run:
            return
        if inv.error:
            self.ledger.plan(self.name, ref, inv, verdict, inviter_key=key, target_folder=None,
                             draft_message_id=None, state=ERROR, error=inv.error)
            report.errors += 1
            log.warning("%s: message %s could not be read and stays where it is: %s", self.name, ref.uid, inv.error)
            return
        if row is None:  # a message resumed from an interrupted pass keeps the state it reached
            self.ledger.plan(self.name, ref, inv, verdict, inviter_key=key, target_folder=plan.folder,
                             draft_message_id=plan.draft.message_id if plan.draft else None)
        try:
            self._apply(ref, plan, row, report)
        except MailboxError as exc:
            if _connection_lost(exc):
                raise
            self.ledger.set_state(self.name, ref, ERROR, str(exc))
            report.errors += 1
            log.error("%s: message %s: %s; it stays where it is", self.name, ref.uid, exc)
            return
        self.ledger.set_state(self.name, ref, DONE)

    def _draft_for(self, inv: Invitation, verdict: Verdict, key: str | None, ref: MessageRef):
        if verdict.template is None or self.composer is None or self.settings.replies.mode == "off":
            return None, ""
        days = self.settings.replies.once_per_inviter_days
        earlier = self.ledger.replied_to(self.name, key, time.time() - days * 86400, ref) if days else None
        if earlier is not None:
            what = "a reminder" if inv.kind is Kind.REMINDER else "another invitation"
            return None, f"no draft: {what} from an inviter who already has one"
        return self.composer.compose(inv, verdict), ""

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
        midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
        # a real pass has recorded its sends in the ledger already; a dry run only counts them
        today = self.ledger.sent_since(self.name, midnight) + (report.sent if report.dry_run else 0)
        if today >= replies.max_per_day:
            return False, f"replies.max_per_day ({replies.max_per_day}) reached"
        if report.sent >= replies.max_per_pass:
            return False, f"replies.max_per_pass ({replies.max_per_pass}) reached"
        return True, ""

    def _apply(self, ref: MessageRef, plan: actions.Plan, row, report: PassReport) -> None:
        state = row["state"] if row is not None else None
        if plan.draft is not None and plan.send and state not in (DRAFTED, SENDING):
            self._send(ref, plan.draft, report)
        elif plan.draft is not None and state != DRAFTED:
            if state == SENDING:
                log.warning("%s: message %s: a pass stopped while its reply was being sent; it may or may not "
                            "have gone out, so it is saved as a draft instead of being sent again", self.name, ref.uid)
            drafts = self._drafts_folder()
            # a crash between APPEND and the ledger update must not leave two drafts: look for ours first
            if row is None or not self.mailbox.has_message_id(drafts, plan.draft.message_id):
                self.mailbox.append(drafts, plan.draft.raw, actions.DRAFT_FLAGS)
            self.ledger.set_state(self.name, ref, DRAFTED, reply="draft")
        if plan.flags:
            self.mailbox.add_flags(ref, plan.flags)
        if plan.folder:
            if plan.folder not in self._created:
                self.mailbox.ensure_folder(plan.folder)
                self._created.add(plan.folder)
            self.mailbox.move(ref, plan.folder)

    def _send(self, ref: MessageRef, draft, report: PassReport) -> None:
        self.ledger.set_state(self.name, ref, SENDING)
        try:
            self.sender.send(draft.raw, self.settings.owner.email, draft.to_address)
        except SendError as exc:
            log.error("%s: message %s: %s; the reply is saved as a draft instead", self.name, ref.uid, exc)
            self.mailbox.append(self._drafts_folder(), draft.raw, actions.DRAFT_FLAGS)
            self.ledger.set_state(self.name, ref, DRAFTED, reply="draft")
            return
        self.ledger.set_state(self.name, ref, DRAFTED, reply="sent")
        report.sent += 1
        log.info("%s: message %s: reply sent to %s", self.name, ref.uid, draft.to_address)
        sent = self.mailbox.sent_folder(self.folders.get("sent", ""))
        if sent:
            self.mailbox.append(sent, draft.raw, ("\\Seen",))

    def _drafts_folder(self) -> str:
        if self._drafts is None:
            self._drafts = self.mailbox.drafts_folder(self.folders.get("drafts", ""))
        return self._drafts


def _connection_lost(exc: MailboxError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, (OSError, EOFError)) or "not connected" in str(exc) or "socket" in str(exc).lower()

