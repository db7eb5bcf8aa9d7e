"""What inboxbot learns from what the user does with its work, read incrementally before each screening:

- the Sent folder: whoever the user has written to is known (To/Cc of new Sent messages only; inboxbot's own
  replies, filed there in send mode, are not the user's and teach nothing);
- the Accept and Declined folders: an invitation the user moved there (rather than inboxbot) makes its inviter a
  known contact, or blocked;
- the Drafts folder: a draft of inboxbot's that is gone was either sent (found in Sent) or discarded.

Each folder is read only where it changed: new UIDs above a remembered mark (seen keys on Maildir), and the drafts
by a one-round-trip signature (STATUS, with HIGHESTMODSEQ where the server offers CONDSTORE) before a UID SEARCH
over the bot's own draft UIDs. Nothing is rescanned.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterator

from inboxbot import parse
from inboxbot.compose import is_own_message_id
from inboxbot.config import Settings
from inboxbot.errors import MailboxError
from inboxbot.mail import Mailbox
from inboxbot.model import RawMessage
from inboxbot.policy.contacts import ContactBook
from inboxbot.policy.rules import vouched_address
from inboxbot.progress import Progress
from inboxbot.store import DISCARDED, REMOVED, SENT, Ledger, invitation_from_json

log = logging.getLogger("inboxbot")
CONTACT, BLOCK = "contact", "block"
RECHECK_IDLE = 3600.0  # seconds: an idle account still looks for corrections this often (for `status`)


@dataclass(frozen=True)
class Learned:
    """One inviter the user taught inboxbot about."""

    key: str
    action: str  # CONTACT or BLOCK
    name: str | None
    email: str | None
    profile_url: str | None
    source: str


def learned_from(row, folder: str, action: str, trusted_ids: tuple[str, ...] = (),
                 require_dkim: bool = False) -> Learned:
    """What moving a screened invitation (its ledger row) into `folder` teaches. Only what identifies the inviter is
    kept: the profile link, the name and an address the network vouches for — never one written in the note, or a
    stranger could have someone else's address blocked (or trusted) by writing it into a note the owner declines."""
    inv = invitation_from_json(row["invitation"])
    person = inv.inviter if inv is not None else None
    address = vouched_address(inv, trusted_ids, require_dkim) if inv is not None else None
    return Learned(row["inviter_key"], action, person.name if person else None, address,
                   person.profile_url if person else None,
                   f"you moved their invitation to {folder}, inboxbot had said {row['decision']}")


def books(entries: list[Learned]) -> tuple[ContactBook, ContactBook]:
    """(known, blocked) from what was learned. An inviter is matched by profile, else address, else name."""
    known, blocked = ContactBook(), ContactBook()
    for entry in entries:
        book = known if entry.action == CONTACT else blocked
        source = f"what you taught inboxbot ({entry.source})"
        if entry.profile_url:
            book.add_entry(entry.profile_url, source)
        elif entry.email:
            book.add_email(entry.email, source)
        elif entry.name:
            book.add_name(entry.name, source)
    return known, blocked


def stored(ledger: Ledger, account: str) -> list[Learned]:
    return [Learned(r["key"], r["action"], r["name"], r["email"], r["profile_url"], r["source"])
            for r in ledger.learned(account)]


def sent_book(people: list[tuple[str, str | None]]) -> ContactBook:
    """The people of the Sent index as a contact book."""
    book = ContactBook()
    for address, name in people:
        book.add_email(address, "your Sent folder")
        book.add_name(name or "", "your Sent folder")
    return book


def offline_books(ledger: Ledger, account: str, settings: Settings) -> tuple[ContactBook, ContactBook]:
    """(known, blocked) from what the ledger holds, without the server: what a replay screens with."""
    known, blocked = books(stored(ledger, account))
    if settings.policy.learn_from_sent:
        known = known.merged(sent_book(ledger.sent_contacts(account)))
    return known, blocked


class Learner:
    def __init__(self, account: str, mailbox: Mailbox, ledger: Ledger, settings: Settings) -> None:
        self.account = account
        self.mailbox = mailbox
        self.ledger = ledger
        self.settings = settings
        self.folders = settings.folders.values

    def due(self) -> bool:
        """Whether an otherwise idle pass should still look for corrections (so `status` stays current)."""
        last = self.ledger.get_meta(f"learned-at:{self.account}")
        return last is None or time.time() - float(last) >= RECHECK_IDLE

    def refresh(self, dry_run: bool) -> tuple[ContactBook, ContactBook]:
        """Read what changed and return (known, blocked) to screen with. A dry run reads but records nothing."""
        sent = sent_book(self._sent_index(dry_run)) if self.settings.policy.learn_from_sent else ContactBook()
        fresh = self._corrections(dry_run)
        if self.settings.learning.from_drafts and not dry_run:
            self._draft_fates()
        if not dry_run:
            self.ledger.set_meta(f"learned-at:{self.account}", str(time.time()))
        known, blocked = books(stored(self.ledger, self.account) + fresh)
        return known.merged(sent), blocked

    # --- reading a folder incrementally --------------------------------------------------------------------------

    def new_in(self, folder: str, section: str, dry_run: bool, label: str) -> Iterator[list[RawMessage]]:
        """The messages of a folder not read before, in batches; the mark moves past a batch once the caller has
        taken it (a crash in between reads it again: every use of these batches is idempotent)."""
        validity, uidnext = self.mailbox.peek(folder)
        mark = f"{label}:{folder}"
        last, _ = self.ledger.last_uid(self.account, mark, validity)
        if uidnext is not None and uidnext - 1 <= last:
            return
        keyed = not self.mailbox.supports_keywords  # Maildir: remember keys instead of a UID mark
        seen = self.ledger.seen(self.account, mark) if keyed else frozenset()
        progress = Progress(f"{self.account}: reading {folder}", uidnext - 1 - last if uidnext else None)
        for batch in self.mailbox.fetch_new(folder, last, 500, seen, section=section):
            yield batch
            progress.advance(len(batch))
            if dry_run:
                continue
            uids = [int(r.ref.uid) for r in batch if r.ref.uid.isdigit()]
            with self.ledger.transaction():
                if uids:
                    last = max(last, *uids)
                    self.ledger.set_last_uid(self.account, mark, validity, last)
                if keyed:
                    self.ledger.mark_seen(self.account, mark, [r.ref.uid for r in batch])
        progress.finish()

    # --- the Sent folder -------------------------------------------------------------------------------------------

    def _sent_index(self, dry_run: bool) -> list[tuple[str, str | None]]:
        """People the owner has written to, kept in the ledger and refreshed with only the new Sent messages."""
        folder = self.mailbox.sent_folder(self.folders.get("sent", ""))
        people = self.ledger.sent_contacts(self.account)
        if folder is None:
            log.debug("%s: no Sent folder found; the Sent index is not refreshed", self.account)
        else:
            for batch in self.new_in(folder, "HEADER.FIELDS (TO CC MESSAGE-ID)", dry_run, "sent"):
                found = [p for raw in batch if not is_own_message_id(parse.message_id_of(raw.raw))
                         for p in parse.recipients(raw.raw)]
                people += found
                if not dry_run:
                    self.ledger.add_sent_contacts(self.account, found)
        return people

    # --- Accept and Declined -----------------------------------------------------------------------------------

    def _corrections(self, dry_run: bool) -> list[Learned]:
        """Invitations the user moved into the Accept or Declined folder: their inviters are learned."""
        learning = self.settings.learning
        found: list[Learned] = []
        for folder, action, enabled in ((self.folders["accept"], CONTACT, learning.from_accept),
                                        (self.folders["declined"], BLOCK, learning.from_declined)):
            if not enabled:
                continue
            if dry_run:
                try:
                    batches = list(self.new_in(folder, "HEADER.FIELDS (MESSAGE-ID)", dry_run, "learn"))
                except MailboxError:
                    continue  # the folder does not exist yet, and a dry run makes nothing
            else:
                self.mailbox.ensure_folder(folder)  # inboxbot files into it anyway; the user may not have yet
                batches = self.new_in(folder, "HEADER.FIELDS (MESSAGE-ID)", dry_run, "learn")
            for batch in batches:
                for raw in batch:
                    entry = self._correction(raw, folder, action, dry_run)
                    if entry is not None:
                        found.append(entry)
        return found

    def _correction(self, raw: RawMessage, folder: str, action: str, dry_run: bool) -> Learned | None:
        message_id = parse.message_id_of(raw.raw)
        row = self.ledger.by_message_id(self.account, message_id) if message_id else None
        if row is None or row["inviter_key"] is None or folder in (row["target_folder"], row["location"]):
            return None  # not an invitation inboxbot screened, or inboxbot itself filed it here
        security = self.settings.security
        entry = learned_from(row, folder, action, tuple(security.trusted_authserv_ids), security.require_dkim)
        verb = "accepted" if action == CONTACT else "declined"
        log.info("%s: you %s %s (moved to %s); inboxbot will remember it", self.account, verb,
                 entry.name or entry.key, folder)
        if not dry_run:
            with self.ledger.transaction():
                self.ledger.learn(self.account, entry.key, action, name=entry.name, email=entry.email,
                                  profile_url=entry.profile_url, source=entry.source)
                self.ledger.set_location(self.account, row["id"], folder)
        return entry

    # --- Drafts ----------------------------------------------------------------------------------------------

    def _draft_fates(self) -> None:
        """Drafts of inboxbot's that left the Drafts folder: sent (found in Sent) or discarded."""
        by_folder: dict[str, list] = {}
        for row in self.ledger.waiting_drafts(self.account):
            by_folder.setdefault(row["draft_folder"], []).append(row)
        sent_folder = None
        for folder, rows in by_folder.items():
            key = f"drafts-signature:{self.account}:{folder}"
            signature = self.mailbox.signature(folder)  # taken first: a change after it is seen next time
            if signature == self.ledger.get_meta(key):
                continue
            present = self.mailbox.present(folder, [r["draft_uid"] for r in rows])
            gone = [r for r in rows if r["draft_uid"] not in present]
            if gone and sent_folder is None:
                sent_folder = self.mailbox.sent_folder(self.folders.get("sent", "")) or ""
            fates = [(r, self._fate(r, sent_folder)) for r in gone]
            with self.ledger.transaction():
                for row, fate in fates:
                    self.ledger.set_draft_fate(self.account, row["id"], fate)
                self.ledger.set_meta(key, signature)
            for row, fate in fates:
                log.info("%s: the draft for message %s (%s) was %s", self.account, row["uid"], row["template"],
                         {SENT: "sent", DISCARDED: "discarded", REMOVED: "removed"}[fate])

    def _fate(self, row, sent_folder: str) -> str:
        if sent_folder and self.mailbox.find_message_id(sent_folder, row["draft_message_id"]):
            return SENT
        owner = (self.settings.owner.email or "").lower()
        to = (row["draft_to"] or "").lower()
        if to and to != owner:
            if self.ledger.sent_to_since(self.account, to, row["updated"]):
                return SENT
            return DISCARDED
        return REMOVED  # a paste-in draft: the reply went out on the network's site, or nowhere; mail cannot tell
