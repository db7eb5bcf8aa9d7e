"""What a verdict means for the mailbox (POLICY.md section 5), as data. Pure: `plan` decides, the worker applies."""
from __future__ import annotations

from dataclasses import dataclass

from inboxbot.mail import KEYWORD
from inboxbot.model import Decision, Draft

DRAFT_FLAGS = ("\\Draft", "\\Seen")


@dataclass(frozen=True)
class Plan:
    decision: Decision
    folder: str | None  # where the message goes; None: it stays where it is
    flags: tuple[str, ...]  # added to the message before it moves
    draft: Draft | None
    remark: str = ""  # why something usual is not done (e.g. no second draft for one inviter)
    send: bool = False  # send the reply by SMTP instead of leaving it in Drafts

    def describe(self) -> str:
        parts = []
        if self.draft is not None:
            parts.append(f"{'send' if self.send else 'draft'} to {self.draft.to} ({self.draft.subject!r})")
        if self.flags:
            parts.append("flag " + " ".join(self.flags))
        parts.append(f"move to {self.folder}" if self.folder else "leave in place")
        if self.remark:
            parts.append(self.remark)
        return "; ".join(parts)


def plan(decision: Decision, folders: dict[str, str], draft: Draft | None, *, keywords: bool,
         remark: str = "", send: bool = False) -> Plan:
    keyword = (KEYWORD,) if keywords else ()
    if decision is Decision.ACCEPT:
        return Plan(decision, folders["accept"], keyword + ("\\Flagged",), None, remark)
    if decision in (Decision.ASK, Decision.FEEDBACK):
        return Plan(decision, folders["screening"], keyword, draft, remark, send and draft is not None)
    if decision is Decision.DECLINE:
        return Plan(decision, folders["declined"], keyword + ("\\Seen",), None, remark)
    if decision is Decision.QUARANTINE:
        return Plan(decision, folders["suspicious"], keyword, None, remark)  # never \Seen: the user should look
    return Plan(decision, None, (), None, remark)  # ignore: untouched; the ledger remembers it
