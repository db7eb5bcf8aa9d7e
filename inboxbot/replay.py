"""Replay: screen the decisions already in the ledger again, under a changed config, from their stored parsed form.

`compare` is pure: it says what would change and which rule made the difference. `Replayer.apply` carries the
changes out with the safety of a pass: each message is recorded as `replaying` (with what is to be done) before
anything is touched, every step looks before it acts (the old draft is only removed when it is still there and
unedited, the new one only appended when it is not there yet, the message only moved from where it is), and a
replay that was interrupted is finished by the next `replay --apply`.
"""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass

from inboxbot import actions
from inboxbot.compose import Composer, draft_digest, too_old
from inboxbot.config import Settings
from inboxbot.faults import checkpoint
from inboxbot.mail import Mailbox
from inboxbot.model import Invitation, MessageRef, Verdict
from inboxbot.policy.chain import Chain
from inboxbot.progress import Progress
from inboxbot.store import REPLAYING, Ledger, invitation_from_json

log = logging.getLogger("inboxbot")


@dataclass(frozen=True)
class Change:
    """One message whose decision or reply would be different under the new config."""

    row_id: int
    uid: str
    message_id: str | None
    inviter: str
    network: str
    old_decision: str
    old_template: str | None
    old_rule: str
    new_decision: str
    new_template: str | None
    new_rule: str
    reason: str  # the new deciding rule's reason
    inv: Invitation
    verdict: Verdict

    @property
    def transition(self) -> str:
        return f"{self.old_decision}→{self.new_decision}"

    def as_json(self) -> dict:
        return {"uid": self.uid, "message_id": self.message_id, "inviter": self.inviter, "network": self.network,
                "old": {"decision": self.old_decision, "template": self.old_template, "rule": self.old_rule},
                "new": {"decision": self.new_decision, "template": self.new_template, "rule": self.new_rule,
                        "reason": self.reason}}


def compare(rows: list, chain: Chain, progress: Progress | None = None) -> tuple[int, list[Change]]:
    """(how many decisions could be replayed, those that would change). Pure, but for the progress shown."""
    total, changes = 0, []
    for row in rows:
        if progress is not None:
            progress.advance(1)
        inv = invitation_from_json(row["invitation"])
        if inv is None or inv.error:
            continue  # no usable parsed form (or the message was unreadable): nothing to screen again
        total += 1
        verdict = chain.screen(inv)
        if verdict.decision.value == row["decision"] and verdict.template == row["template"]:
            continue
        old_reasons = json.loads(row["reasons"] or "[]")
        changes.append(Change(
            row_id=row["id"], uid=row["uid"], message_id=row["message_id"], inviter=inv.inviter.name or "-",
            network=inv.network or "-", old_decision=row["decision"], old_template=row["template"],
            old_rule=_rule_of(old_reasons[0]) if old_reasons else "-", new_decision=verdict.decision.value,
            new_template=verdict.template, new_rule=_rule_of(verdict.reasons[0]) if verdict.reasons else "-",
            reason=verdict.reasons[0].partition(": ")[2] if verdict.reasons else "", inv=inv, verdict=verdict))
    return total, changes


def summary(total: int, changes: list[Change]) -> str:
    """`14 of 312 would change: 9 ask→accept (known-contact: contacts.vcf), 5 feedback→ask (stranger)`."""
    if not total:
        return "nothing to replay: the state database holds no screened messages (for this period) yet"
    if not changes:
        return f"none of {total} would change"
    groups = Counter((c.transition, c.new_rule) for c in changes)
    sources: dict[tuple[str, str], set[str]] = {}
    for c in changes:
        sources.setdefault((c.transition, c.new_rule), set()).add(_source_of(c.reason))
    parts = []
    for (transition, rule), count in groups.most_common():
        found = sources[(transition, rule)] - {""}
        detail = f"{rule}: {', '.join(sorted(found))}" if found and len(found) <= 2 else rule
        parts.append(f"{count} {transition} ({detail})")
    return f"{len(changes)} of {total} would change: " + ", ".join(parts)


def _rule_of(reason: str) -> str:
    return reason.partition(":")[0] or "-"


def _source_of(reason: str) -> str:
    """Where a contact or block came from, for the summary: 'name … is in contacts.vcf' -> 'contacts.vcf'."""
    m = re.search(r"\b(?:is in|match) (.+)$", reason)
    return m.group(1) if m else ""


class Replayer:
    """Carries out a replay's changes on the mailbox, once, resumably."""

    def __init__(self, account: str, mailbox: Mailbox, ledger: Ledger, chain: Chain, composer: Composer | None,
                 settings: Settings) -> None:
        self.account = account
        self.mailbox = mailbox
        self.ledger = ledger
        self.chain = chain
        self.composer = composer if settings.replies.mode != "off" else None
        self.settings = settings
        self.folders = dict(settings.folders.values)
        self.notes: list[str] = []  # what could not be done as planned, for the user

    def resume(self) -> int:
        """Finish what an interrupted `replay --apply` left; returns how many."""
        rows = self.ledger.replaying(self.account)
        for row in rows:
            inv = invitation_from_json(row["invitation"])
            if inv is not None:
                self._apply(row, inv, self.chain.screen(inv))
        return len(rows)

    def apply(self, changes: list[Change]) -> None:
        progress = Progress(f"{self.account}: applying the replay", len(changes))
        for change in changes:
            self._apply(self.ledger.by_id(self.account, change.row_id), change.inv, change.verdict)
            progress.advance(1)
        progress.finish()

    def _apply(self, row, inv: Invitation, verdict: Verdict) -> None:
        plan = actions.plan(verdict.decision, self.folders, None, keywords=self.mailbox.supports_keywords)
        # where the message was when this replay began; a resumed replay keeps what its first attempt recorded
        step = json.loads(row["replay"]) if row["replay"] else {
            "from": row["location"] or row["target_folder"] or self.folders["inbox"]}
        here = step["from"]
        self.ledger.begin_replay(self.account, row["id"], step)  # recorded before anything is touched
        drafts_dropped = self._drop_old_draft(row, verdict)
        checkpoint("replay-after-drop")
        new_draft = self._new_draft(row, inv, verdict)
        checkpoint("replay-after-draft")
        location = self._move(row, here, plan) if plan.folder and plan.folder != here else here
        checkpoint("replay-after-move")
        with self.ledger.transaction():
            if drafts_dropped:
                self.ledger.drop_draft(self.account, row["id"])
            if new_draft is not None:
                self.ledger.set_state(self.account, _ref(row), REPLAYING, reply="draft")
                self.ledger.set_draft(self.account, _ref(row), **new_draft)
            self.ledger.finish_replay(self.account, row["id"], decision=verdict.decision.value,
                                      template=verdict.template, reasons=list(verdict.reasons),
                                      target_folder=plan.folder or row["target_folder"], location=location)
        log.info("%s: message %s replayed: %s → %s", self.account, row["uid"], row["decision"],
                 verdict.decision.value, extra={"decision": verdict.decision.value, "uid": row["uid"]})

    def _drop_old_draft(self, row, verdict: Verdict) -> bool:
        """Remove the bot's own waiting draft when the new decision wants another reply or none. Never an edited one."""
        if not row["draft_message_id"] or row["reply"] != "draft" or row["draft_fate"] is not None:
            return False
        if verdict.template == row["template"]:
            return False  # the same reply still stands
        folder = row["draft_folder"] or self.mailbox.drafts_folder(self.folders.get("drafts", ""))
        uids = self.mailbox.find_message_id(folder, row["draft_message_id"])
        unedited = [m.ref.uid for m in self.mailbox.fetch(folder, uids)
                    if row["draft_digest"] and draft_digest(m.raw) == row["draft_digest"]]
        if len(unedited) < len(uids):
            self.notes.append(f"message {row['uid']}: the old draft was edited by you and is kept")
        if unedited:
            self.mailbox.delete(folder, unedited)
        return len(unedited) == len(uids)

    def _new_draft(self, row, inv: Invitation, verdict: Verdict) -> dict | None:
        if verdict.template is None or self.composer is None:
            return None
        if verdict.template == row["template"] and row["draft_message_id"]:
            return None  # that reply was made already
        if too_old(inv.date, self.settings.replies.max_age_days):
            self.notes.append(f"message {row['uid']}: no new reply, older than replies.max_age_days "
                              f"({self.settings.replies.max_age_days})")
            return None
        draft = self.composer.compose(inv, verdict)
        folder = self.mailbox.drafts_folder(self.folders.get("drafts", ""))
        found = self.mailbox.find_message_id(folder, draft.message_id)
        uid = found[0] if found else self.mailbox.append(folder, [draft.raw], actions.DRAFT_FLAGS)[0]
        return {"message_id": draft.message_id, "folder": folder, "uid": uid, "to": draft.to_address,
                "digest": draft_digest(draft.raw)}

    def _move(self, row, here: str, plan: actions.Plan) -> str:
        """Move the message from where the ledger last saw it; returns where it is now."""
        message_id = row["message_id"]
        uids = self.mailbox.find_message_id(here, message_id) if message_id else []
        if not uids:
            if message_id and self.mailbox.find_message_id(plan.folder, message_id):
                return plan.folder  # moved before an interruption
            self.notes.append(f"message {row['uid']}: not found in {here} (moved by you?); left where it is")
            return here
        self.mailbox.ensure_folder(plan.folder)
        if plan.flags:
            self.mailbox.add_flags(here, uids, plan.flags)
        self.mailbox.move(here, uids, plan.folder)
        return plan.folder


def _ref(row) -> MessageRef:
    return MessageRef(row["folder"], row["uidvalidity"], row["uid"])
