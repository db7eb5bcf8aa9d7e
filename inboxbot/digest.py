"""The digest (opt-in, `[digest] every`): a short plain-text summary of what inboxbot did, appended to the inbox.

Built from the ledger alone (pure but for ledger reads); the worker appends it. Its Message-ID is derived from the
account and the period, so a pass that crashed after appending it finds it instead of adding a second.
"""
from __future__ import annotations

import hashlib
import quopri
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formataddr, formatdate

from inboxbot import answers
from inboxbot.store import DISCARDED, SENT, Ledger, invitation_from_json
from inboxbot.status import draft_outcomes

PERIODS = {"daily": 86400.0, "weekly": 7 * 86400.0}
ORDER = ("accept", "ask", "feedback", "decline", "quarantine", "ignore")
BAR = 30  # characters of the longest bar


@dataclass(frozen=True)
class Digest:
    subject: str
    body: str
    message_id: str
    raw: bytes


def due(ledger: Ledger, account: str, every: str, now: float | None = None) -> float | None:
    """The start of the period to summarise when a digest is due, else None. The first period begins the first
    time this is asked (a digest switched on reports from then on, not the whole past)."""
    if every not in PERIODS:
        return None
    now = time.time() if now is None else now
    last = ledger.get_meta(f"digest-at:{account}")
    if last is None:
        ledger.set_meta(f"digest-at:{account}", str(now))
        return None
    return float(last) if now - float(last) >= PERIODS[every] else None


def mark_sent(ledger: Ledger, account: str, until: float) -> None:
    ledger.set_meta(f"digest-at:{account}", str(until))


def build(ledger: Ledger, account: str, since: float, until: float, owner_name: str, owner_email: str,
          every: str, resolved: tuple[str, ...] = ()) -> Digest:
    """`resolved`: the folders where an invitation counts as decided (Accept, Declined), for "still waiting"."""
    decisions: Counter = Counter()
    accepted: list[str] = []
    for row in ledger.rows("SELECT decision, invitation, inviter_key FROM messages WHERE account=? AND first_seen >= ? "
                           "AND first_seen < ? AND kind IN ('invitation', 'reminder') AND decision IS NOT NULL",
                           account, since, until):
        decisions[row["decision"]] += 1
        if row["decision"] == "accept":
            accepted.append(_name(row["invitation"]) or row["inviter_key"] or "?")
    taught = [r["name"] or r["key"] for r in ledger.learned(account) if r["action"] == "contact" and
              since <= r["created"] < until]
    waiting = next(ledger.rows("SELECT COUNT(*) FROM messages WHERE account=? AND reply='draft' AND "
                               "draft_message_id IS NOT NULL AND draft_fate IS NULL", account))[0]
    outcomes = draft_outcomes(ledger, account, since)
    sent = sum(o[SENT] for o in outcomes.values())
    discarded = sum(o[DISCARDED] for o in outcomes.values())
    word = "week" if every == "weekly" else "day"
    total = sum(decisions.values())
    subject = f"inboxbot: {total} invitation{'s' if total != 1 else ''} this {word}"
    lines = [f"What inboxbot did for {account} from {_day(since)} to {_day(until)}:", ""]
    lines += chart([(d, decisions[d]) for d in ORDER if decisions[d]]) or ["No invitations arrived."]
    lines += ["", f"Drafts waiting for you: {waiting}",
              f"Drafts you sent: {sent}; drafts you discarded: {discarded} (of those made this {word})",
              f"Forged invitations quarantined: {decisions['quarantine']}"]
    if accepted or taught:
        lines += ["", "Accepted:"] + [f"  - {name}" for name in accepted]
        lines += [f"  - {name} (you moved their invitation to Accept)" for name in taught]
    answered = [answers.answer_line(r) for r in ledger.answers_since(account, since) if r["received"] < until]
    if answered:
        lines += ["", f"Answered this {word}:"] + [f"  - {line}" for line in answered]
    unanswered = answers.pending(ledger, account, set(resolved), until)
    if unanswered:
        lines += ["", "Still waiting for an answer:"] + [
            f"  - {e['inviter']} ({e['network'] or '-'}), asked {e['age_days']} day(s) ago" for e in unanswered]
    lines += ["", "-- ", "Sent by inboxbot to its owner. Switch it off with [digest] every = \"off\"."]
    body = "\n".join(lines) + "\n"
    domain = owner_email.rpartition("@")[2] or "inboxbot.invalid"
    seed = hashlib.sha256(f"{account}|{since:.0f}".encode()).hexdigest()[:20]  # stable until marked sent
    message_id = f"<inboxbot-digest.{seed}@{domain}>"
    me = formataddr((owner_name or "inboxbot", owner_email or f"inboxbot@{domain}"))
    headers = [("From", me), ("To", me), ("Subject", subject), ("Date", formatdate(until, localtime=True)),
               ("Message-ID", message_id), ("Auto-Submitted", "auto-generated"), ("X-Inboxbot", "digest"),
               ("MIME-Version", "1.0"), ("Content-Type", 'text/plain; charset="utf-8"'),
               ("Content-Transfer-Encoding", "quoted-printable")]
    raw = "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8") + b"\n" + quopri.encodestring(body.encode())
    return Digest(subject, body, message_id, raw)


def chart(rows: list[tuple[str, int]]) -> list[str]:
    """A small bar chart in text: one line per label, bars scaled to the largest count."""
    if not rows:
        return []
    top = max(count for _, count in rows) or 1
    width = max(len(label) for label, _ in rows)
    return [f"  {label:<{width}}  {'█' * max(1, round(count / top * BAR)):<{BAR}}  {count}" for label, count in rows]


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def _name(invitation_json: str | None) -> str | None:
    inv = invitation_from_json(invitation_json)
    return inv.inviter.name if inv is not None else None
