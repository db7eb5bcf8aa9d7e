"""After the question: recognise an inviter's answer, tell which invitation it answers, and read what it says.

An answer comes two ways:
- an email reply to the owner's reply: its In-Reply-To/References name a draft inboxbot made, or it comes from the
  inviter's own address that the network's mail gave (never one read in the note: a stranger's text chooses
  nothing). The invitation's own Message-ID is not enough: on a mailing list, anyone may answer an invitation;
- a network's message notification (parse/messages.py) that passed the authenticity checks, from an inviter
  inboxbot asked: matched by profile link, else by name on the same network when exactly one asked inviter has it.

Pure but for ledger reads. The worker files the answer beside its invitation and records the link
(store.Ledger.record_answer); inboxbot never accepts anything on the network: the owner decides.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from inboxbot import vocab
from inboxbot.model import AnswerReading, Invitation, NetworkMessage
from inboxbot.parse import detect_language
from inboxbot.parse.base import fold
from inboxbot.parse.messages import read_message
from inboxbot.parse.mime import Mail
from inboxbot.policy.contacts import profile_key
from inboxbot.store import Ledger, invitation_from_json

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_FROM_LINE = re.compile(rb"\nfrom:[^\n]*(?:\n[ \t][^\n]*)*")
_ADDRESS = re.compile(rb"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9.-]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")  # not inside "www.example.com" or "3.5"

# what an answer does, in the note reader's words; the first that applies wins (a pitch that claims a meeting is a
# pitch), each with what it means for the owner
_READINGS = (
    ("pitch", ("sales_pitch",), "pitches", "consider declining"),
    ("recruiter", ("recruiter",), "recruits", "consider accepting if you are open to offers"),
    ("claim", ("acquaintance",), "confirms a meeting or tie", "consider accepting"),
    ("purposeful", ("purpose",), "gives a purpose", "consider accepting"),
    ("compliment", ("compliment", "shared_group"), "only compliments or cites a group",
     "it does not answer your question"),
)


def read_answer(text: str | None) -> AnswerReading:
    """What an answer says: confirms a meeting or tie, gives a purpose, pitches, recruits, compliments, or dodges
    the question. The one place that reads answers: point it at the note reader when there is one."""
    folded = fold(text or "")
    for intent, categories, summary, advice in _READINGS:
        found = [p for c in categories for p in vocab.find(c, folded)]
        if found:
            quote = _sentence_with(text or "", found[0])
            return AnswerReading(intent, f'{summary}: "{quote}"' if quote else summary, advice, quote)
    return AnswerReading("generic", "dodges the question", "consider letting it go", None)


def _sentence_with(text: str, phrase: str) -> str | None:
    for sentence in _SENTENCE_END.split(text):
        if phrase in fold(sentence) or (phrase == "?" and sentence.strip().endswith("?")):
            return " ".join(sentence.split())[:160]
    return None


@dataclass(frozen=True)
class Answer:
    """An answer recognised: which invitation (its ledger row id) it answers, how it came, what it says."""

    invitation_id: int
    via: str  # "email" or a network's name
    sender: str  # the inviter's name, as their invitation gave it
    text: str | None
    language: str | None
    reading: AnswerReading
    folder: str  # where the invitation waits: the answer goes there too


@dataclass
class Asked:
    """The invitations inboxbot answered with a question, indexed for matching: their drafts' Message-IDs, the
    inviters' own addresses, profile links and names per network."""

    rows: dict[int, dict] = field(default_factory=dict)  # row id -> {"name": the inviter's, "folder": where it waits}
    by_message_id: dict[str, int] = field(default_factory=dict)
    by_email: dict[str, int] = field(default_factory=dict)
    by_profile: dict[str, int] = field(default_factory=dict)  # "network:profile key"
    by_name: dict[str, list[int]] = field(default_factory=dict)  # "network:folded name"
    owner: str = ""  # the owner's address: their own mail in a thread is no answer

    @classmethod
    def load(cls, ledger: Ledger, account: str, default_folder: str, owner: str = "") -> "Asked":
        asked = cls(owner=owner.lower())
        for row in ledger.asked(account):
            inv = invitation_from_json(row["invitation"])
            if inv is None:
                continue
            person = inv.inviter
            asked.rows[row["id"]] = {"name": person.name or row["inviter_key"] or "?",
                                     "folder": row["location"] or row["target_folder"] or default_folder}
            asked.by_message_id[row["draft_message_id"]] = row["id"]
            # only the address inboxbot's reply went to: the network vouched for it then (a draft to anyone else,
            # such as an address the note gave, went to the owner for pasting)
            recipient = (row["draft_to"] or "").lower()
            if recipient and recipient != asked.owner:
                asked.by_email[recipient] = row["id"]
            key = _profile(person.profile_url)
            if key:
                asked.by_profile[f"{inv.network}:{key}"] = row["id"]
            if person.name:
                asked.by_name.setdefault(f"{inv.network}:{fold(person.name)}", []).append(row["id"])
        return asked

    def wants_headers(self, raw_headers: bytes) -> bool:
        """Whether a message that claims no network may be an email answer (its header block is enough). Asked of
        most of an inbox: a byte scan first, the headers parsed only for a thread or an inviter's address."""
        if not self.rows:
            return False
        head = b"\n" + raw_headers.split(b"\n\n", 1)[0].lower()
        if b"\nin-reply-to:" not in head and b"\nreferences:" not in head:
            sender = _FROM_LINE.search(head)
            if sender is None or not any(a.decode("ascii", "replace") in self.by_email
                                         for a in _ADDRESS.findall(sender.group(0))):
                return False
        return self._email_match(Mail.from_headers(raw_headers)) is not None

    def recognise(self, raw: bytes, inv: Invitation, authentic: bool | None) -> Answer | None:
        """The answer in a message that parse() read as `inv`, or None. `authentic`: the chain's verdict on the
        message's network claim (a forged notification is no answer: the chain quarantines it)."""
        if not self.rows or inv.error:
            return None
        if inv.network is None:
            found = self._email_match(Mail.from_bytes(raw))
            if found is None:
                return None
            row_id, text = found
            return self._answer(row_id, "email", text, detect_language(text) if text else None)
        if not authentic:
            return None
        message = read_message(raw, inv)
        if message is None or message.doubts:
            return None
        row_id = self._network_match(message)
        if row_id is None:
            return None
        return self._answer(row_id, message.network, message.text, message.language)

    def _answer(self, row_id: int, via: str, text: str | None, language: str | None) -> Answer:
        row = self.rows[row_id]
        return Answer(row_id, via, row["name"], text, language, read_answer(text), row["folder"])

    def _email_match(self, mail: Mail) -> tuple[int, str | None] | None:
        """(the invitation's row id, the new text of the reply) for an email answer, else None."""
        _, address = mail.address("From")
        if address and address.lower() == self.owner:
            return None  # the owner's own mail in the thread (a copy to self) is no answer
        referenced = _MESSAGE_ID.findall(mail.header("In-Reply-To") + " " + mail.header("References"))
        row_id = next((self.by_message_id[m] for m in reversed(referenced) if m in self.by_message_id), None)
        if row_id is None and address:
            row_id = self.by_email.get(address.lower())
        return None if row_id is None else (row_id, reply_text(mail.best_text))

    def _network_match(self, message: NetworkMessage) -> int | None:
        key = _profile(message.sender.profile_url)
        if key:
            return self.by_profile.get(f"{message.network}:{key}")
        same = self.by_name.get(f"{message.network}:{fold(message.sender.name or '')}", [])
        return same[0] if len(same) == 1 else None


def reply_text(text: str) -> str | None:
    """The new part of an email reply: above the quoted message ("> " lines and the "On … wrote:" line)."""
    out = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(">") or re.match(r"^(on .{4,120} wrote:|am .{4,120} schrieb .{1,80}:|-----\s*original "
                                                r"message|-----\s*ursprüngliche nachricht)", stripped, re.I):
            break
        out.append(line.rstrip())
    return "\n".join(out).strip() or None


def _profile(url: str | None) -> str | None:
    if not url:
        return None
    key = profile_key(url)
    if key:
        return key
    path = re.sub(r"^https?://[^/]+/", "", url.strip().lower()).strip("/")  # facebook.com/<vanity>
    return path or None


def age_days(since: float, now: float | None = None) -> int:
    return int(((now or time.time()) - since) // 86400)


def overdue(rows: list, days: int, resolved_folders: set[str], now: float | None = None) -> list:
    """Of the unanswered invitations (Ledger.unanswered), those asked more than `days` ago that still wait where
    inboxbot filed them (not ones the owner moved to Accept or Declined)."""
    return [r for r in rows if age_days(r["first_seen"], now) >= days and
            (r["location"] or r["target_folder"]) not in resolved_folders]


def inviter_name(row) -> str:
    """The inviter's name from a ledger row of an invitation (its stored parsed form), else its key."""
    inv = invitation_from_json(row["invitation"])
    return (inv.inviter.name if inv is not None else None) or row["inviter_key"] or "?"


# --- what is still open, and what explain shows ---------------------------------------------------------------

def pending(ledger: Ledger, account: str, resolved_folders: set[str], now: float | None = None) -> list[dict]:
    """The invitations asked and not answered, oldest first, for `inboxbot pending` and the digest."""
    out = []
    for row in ledger.unanswered(account):
        inv = invitation_from_json(row["invitation"])
        folder = row["location"] or row["target_folder"]
        if folder in resolved_folders:
            continue  # the owner decided already
        out.append({"account": account, "inviter": inviter_name(row), "network": inv.network if inv else None,
                    "asked": time.strftime("%Y-%m-%d", time.localtime(row["first_seen"])),
                    "age_days": age_days(row["first_seen"], now), "folder": folder,
                    "reply": "sent" if row["reply"] == "sent" or row["draft_fate"] == "sent" else
                    "draft not sent yet" if row["draft_fate"] is None else "draft gone"})
    return out


def render_pending(entries: list[dict]) -> str:
    if not entries:
        return "No invitation is waiting for an answer."
    lines = []
    for e in entries:
        days = "today" if e["age_days"] == 0 else f"{e['age_days']} day{'s' if e['age_days'] != 1 else ''} ago"
        lines.append(f"{e['account']}: {e['inviter']} ({e['network'] or '-'}): asked {days} ({e['asked']}), "
                     f"{e['reply']}; waiting in {e['folder']}")
    return "\n".join(lines)


def answer_line(row) -> str:
    """"Jane Doe answered (confirms a meeting or tie: "…") — consider accepting", from Ledger.answers_since."""
    return f"{row['sender'] or '?'} answered ({row['summary']}) — {row['advice']}"


def explained(raw: bytes, inv: Invitation, authentic: bool | None, ledger: Ledger | None,
              accounts: list[tuple[str, str, str]]) -> dict:
    """For `explain`: the message notification read out of a message, and the invitation it answers — as recorded
    in the ledger, else as a pass would match it now. `accounts`: (name, screening folder, owner address)."""
    out: dict = {}
    message = read_message(raw, inv)
    if message is not None:
        reading = read_answer(message.text if authentic is not False else None)
        out["message"] = {"sender": {"name": message.sender.name, "headline": message.sender.headline,
                                     "profile_url": message.sender.profile_url},
                          "text": message.text, "language": message.language, "why": message.why,
                          "doubts": list(message.doubts),
                          "reading": {"intent": reading.intent, "summary": reading.summary, "advice": reading.advice}}
    if ledger is None:
        return out
    row = ledger.answer_by_message_id(inv.message_id) if inv.message_id else None
    if row is not None:
        out["answers"] = {"inviter": row["sender"], "account": row["account"], "folder": row["filed_to"],
                          "via": row["via"], "summary": row["summary"], "advice": row["advice"], "recorded": True}
        return out
    for account, folder, owner in accounts:
        answer = Asked.load(ledger, account, folder, owner).recognise(raw, inv, authentic)
        if answer is not None:
            out["answers"] = {"inviter": answer.sender, "account": account, "folder": answer.folder,
                              "via": answer.via, "summary": answer.reading.summary, "advice": answer.reading.advice,
                              "recorded": False}
            break
    out.setdefault("answers", None)  # consulted: no invitation it answers
    return out


def explained_text(extra: dict) -> list[str]:
    """The lines `explain` adds for a message notification or an answer (`extra`: explain's record)."""
    lines = []
    message = extra.get("message")
    if message:
        text = " ".join((message["text"] or "").split())
        lines.append(f"   message from {message['sender']['name'] or 'unknown'} ({message['why']}): "
                     f"{text[:200]}{'…' if len(text) > 200 else ''}")
        if extra.get("authentic") is False:
            lines.append("   not read as an answer: the message is not authentic")
        else:
            lines.append(f"   reads as: {message['reading']['summary']} — {message['reading']['advice']}")
    answered = extra.get("answers")
    if answered:
        lines.append(f"   answers the invitation of {answered['inviter']} ({answered['account']}), waiting in "
                     f"{answered['folder']}" + ("" if answered["recorded"] else " (not filed yet)"))
    elif message and "answers" in extra:
        lines.append("   answers no invitation inboxbot asked")
    return lines
