"""Who was answered, read back from the mailbox when the ledger is new (deleted, or moved aside as damaged).

A reply is in Drafts or Sent and names the invitation it answers in In-Reply-To. Counted as answered: what a
reply made by inboxbot (its Message-ID is `<inboxbot.<hex>@domain>`, compose.draft_message_id) or any reply to an
invitation in inboxbot's invitation folders (a draft the owner sent gets a new Message-ID from most mail clients)
answers. The invitations found are read, so that a new invitation from the same inviter is not answered again
within replies.once_per_inviter_days either. The ledger records them as answered, not as decisions of its own.
"""
from __future__ import annotations

import email.utils
import logging
import re
import time
from collections import defaultdict
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Callable

from inboxbot import parse
from inboxbot.config import Settings
from inboxbot.mail import Mailbox
from inboxbot.model import Invitation
from inboxbot.store import Ledger, invitation_record

log = logging.getLogger("inboxbot")
OURS = re.compile(r"<inboxbot\.[0-9a-f]+@[^<>\s]+>")
_ID = re.compile(r"<[^<>\s]+>")
REPLY_FIELDS = "HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO DATE)"
INVITATION_FOLDERS = ("screening", "accept", "declined")  # where answered invitations are: filed, or moved by you


def rebuild(account: str, mailbox: Mailbox, ledger: Ledger, settings: Settings,
            inviter_key: Callable[[Invitation], str | None]) -> int:
    """Record in a new ledger the invitations this account's Drafts and Sent folders answer; returns how many."""
    folders = dict(settings.folders.values)
    size = settings.schedule.batch_size
    invitations: dict[str, tuple[str, str]] = {}  # Message-ID -> (folder, UID)
    for key in INVITATION_FOLDERS:
        mailbox.ensure_folder(folders[key])
        for batch in mailbox.fetch_new(folders[key], 0, size, section="HEADER.FIELDS (MESSAGE-ID)"):
            for raw in batch:
                message_id = parse.message_id_of(raw.raw)
                if message_id:
                    invitations.setdefault(message_id, (folders[key], raw.ref.uid))
    answered: dict[str, tuple[float, str]] = {}  # invitation Message-ID -> (when, the reply's Message-ID)
    replies = [mailbox.drafts_folder(folders.get("drafts", "")), mailbox.sent_folder(folders.get("sent", ""))]
    for folder in dict.fromkeys(f for f in replies if f):
        for batch in mailbox.fetch_new(folder, 0, size, section=REPLY_FIELDS):
            for raw in batch:
                head = BytesHeaderParser(policy=compat32).parsebytes(raw.raw)
                own_id = " ".join(str(head.get("Message-ID", "")).split())
                ours = OURS.fullmatch(own_id) is not None
                for parent in _ID.findall(str(head.get("In-Reply-To", ""))):
                    if ours or parent in invitations:
                        when = _date(head.get("Date"))
                        if when >= answered.get(parent, (0.0, ""))[0]:
                            answered[parent] = (when, own_id or "(unknown)")
    located: dict[str, list[str]] = defaultdict(list)
    for message_id in answered:
        if message_id in invitations:
            folder, uid = invitations[message_id]
            located[folder].append(uid)
    entries = {message_id: (None, None, None) for message_id in answered}
    for folder, uids in located.items():
        for start in range(0, len(uids), size):
            for raw in mailbox.fetch(folder, uids[start:start + size]):
                inv = parse.parse(raw.raw)
                if inv.message_id in entries:
                    entries[inv.message_id] = (inviter_key(inv), invitation_record(inv), folder)
    with ledger.transaction():
        ledger.remember_answered(account, [(message_id, *entries[message_id], *answered[message_id])
                                           for message_id in answered])
        ledger.rebuilt(account)
    log.log(logging.WARNING if answered else logging.INFO, "%s: the state database is new; read back from Drafts "
            "and Sent: %d invitation(s) answered before, %d of them with their inviter", account, len(answered),
            sum(e[0] is not None for e in entries.values()))
    return len(answered)


def _date(value: object) -> float:
    try:
        return email.utils.parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return time.time()
