"""IMAP through imapclient: the only module that imports it.

Incremental (`UID SEARCH UID n:*`), batched FETCH of BODY.PEEK[] (never marks mail read), MOVE when offered or
UID COPY + UID EXPUNGE of exactly that UID (UIDPLUS), never a mailbox-wide EXPUNGE. Foreign exceptions are mapped
to MailboxError at this boundary.
"""
from __future__ import annotations

import functools
import logging
import re
import select
import socket
import ssl
import threading
import time
from typing import Callable, Iterator

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import join_message_ids
from imapclient.response_parser import parse_fetch_response

from inboxbot.errors import AuthenticationFailed, MailboxError, ServerBusy
from inboxbot.mail import KEYWORD
from inboxbot.model import MessageRef, RawMessage
from inboxbot.parse import message_id_of

log = logging.getLogger("inboxbot")


def _quiet_unless_traced(client: imapclient.IMAPClient) -> None:
    """imapclient turns imaplib's protocol trace on (debug 5) and hands it to the "imapclient.imaplib" logger, so
    every response line is formatted with repr(), whole messages included, before the logger drops it: a third of
    the CPU of reading a backlog. Trace only when that logger listens."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


_NOTHING = object()  # a FETCH response that did not carry the section asked for
_UID_ITEM = re.compile(rb"\bUID (\d+)")
_FLAGS_ITEM = re.compile(rb"\bFLAGS \(([^)]*)\)")


def plain_fetch_items(data: list, key: bytes) -> dict[int, tuple[object, tuple[bytes, ...]]] | None:
    """Read imaplib's FETCH responses of the plain shape — `n (UID u FLAGS (...) BODY[…] {size}`, the literal, then
    the rest of the line — into {uid: (body, flags)}: the body is None for NIL, and _NOTHING when no response for
    that UID carried it (an unsolicited flag update). None for any other shape (several literals, a literal of
    another item, the section as a quoted string), for imapclient's parser to read. Responses without a UID are
    left out: they are not about a UID asked for."""
    as_literal, as_nil = _item_patterns(key)
    items: dict[int, tuple[object, tuple[bytes, ...]]] = {}
    i, count = 0, len(data)
    while i < count:
        element = data[i]
        i += 1
        if isinstance(element, tuple):
            head, body = element
            rest = data[i] if i < count else b""
            i += 1
            if not isinstance(rest, bytes) or not as_literal.search(head):
                return None
            text = head + b" " + rest
        elif isinstance(element, bytes):
            text, body = element, _NOTHING
            if key in text:
                if not as_nil.search(text):
                    return None
                body = None
        else:
            return None
        uid = _UID_ITEM.search(text)
        if uid is None:
            continue
        flags = _FLAGS_ITEM.search(text)
        number = int(uid.group(1))
        before = items.get(number, (_NOTHING, ()))
        items[number] = (before[0] if body is _NOTHING else body,
                         tuple(flags.group(1).split()) if flags else before[1])
    return items


@functools.lru_cache(maxsize=8)
def _item_patterns(key: bytes) -> tuple[re.Pattern, re.Pattern]:
    item = rb"[ (]" + re.escape(key)
    return re.compile(item + rb" \{\d+\}\Z"), re.compile(item + rb" NIL\b")


@functools.lru_cache(maxsize=256)
def _flag_set(flags: tuple[bytes, ...]) -> frozenset[str]:
    """A mailbox has few distinct sets of flags: each is decoded once."""
    return frozenset(f.decode() if isinstance(f, bytes) else f for f in flags)


def _peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed the connection (imapclient's idle_check does not say so)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""  # readable: returns at once, b"" only at end of stream
    except ValueError:  # a TLS socket cannot peek; a BYE or the next IDLE renewal will tell
        return False
    except OSError:
        return True


class ImapMailbox:
    supports_keywords = True

    def __init__(self, host: str, port: int, security: str, username: str, password: str, *,
                 timeout: float = 60, ssl_context: ssl.SSLContext | None = None,
                 oauth2_mechanism: str | None = None, copy_without_move: bool = False) -> None:
        """With oauth2_mechanism ("XOAUTH2" or "OAUTHBEARER"), `password` is an OAuth2 access token. With
        copy_without_move, a server with neither MOVE nor UIDPLUS gets copies "moved" to a folder, the originals
        left where they are."""
        self.copy_without_move = copy_without_move
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.oauth2_mechanism = oauth2_mechanism
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.client: imapclient.IMAPClient | None = None
        self.selected: str | None = None
        self._selected_validity: int | None = None
        self._folders: set[str] | None = None
        self._delimiter = "/"
        self._prefix = ""  # the personal namespace's prefix (RFC 2342), e.g. "INBOX." on Courier and Cyrus
        self._listed_flags: dict[str, frozenset[str]] = {}  # folder -> its LIST attributes, lower-cased
        self._special: dict[str, str | None] = {}  # SPECIAL-USE folders found, kept for the connection's life
        self._view: tuple[int, int] | None = None  # (UIDVALIDITY, UIDNEXT) of the inbox kept open read-only
        self._view_changed = False
        self._polled = False
        self.capabilities: frozenset[str] = frozenset()
        self.readonly = False  # folders are opened with EXAMINE: a reading connection changes nothing

    def reader(self) -> "ImapMailbox":
        other = ImapMailbox(self.host, self.port, self.security, self.username, self._password, timeout=self.timeout,
                            ssl_context=self.ssl_context, oauth2_mechanism=self.oauth2_mechanism)
        other.readonly = True
        other.open()
        return other

    # --- connection --------------------------------------------------------------------------------------------

    def open(self) -> None:
        where = f"{self.host}:{self.port}"
        try:
            client = imapclient.IMAPClient(self.host, port=self.port, ssl=self.security == "tls",
                                           ssl_context=self.ssl_context, timeout=self.timeout)
            _quiet_unless_traced(client)
            if self.security == "starttls":
                client.starttls(self.ssl_context)
        except socket.gaierror as exc:
            raise MailboxError(f"cannot find the mail server {self.host}: {exc.strerror}",
                               hint="Check account.host for typos and that this machine has DNS.") from exc
        except ssl.SSLError as exc:
            raise MailboxError(f"the TLS handshake with {where} failed: {exc.reason or exc}",
                               hint="Check account.port and account.security (993 is \"tls\", 143 is "
                                    "\"starttls\"), and that the server's certificate is valid.") from exc
        except (ConnectionError, socket.timeout, OSError) as exc:
            raise MailboxError(f"cannot connect to {where}: {exc.strerror or exc}",
                               hint="Check account.host and account.port, and that the server is up.") from exc
        except IMAPClientError as exc:
            raise MailboxError(f"{where} refused the connection: {exc}") from exc
        try:
            if self.oauth2_mechanism == "OAUTHBEARER":
                client.oauthbearer_login(self.username, self._password)
            elif self.oauth2_mechanism:
                client.oauth2_login(self.username, self._password)
            else:
                client.login(self.username, self._password)
        except LoginError as exc:
            client.shutdown()
            raise _login_refused(where, self.username, str(exc)) from exc
        except (IMAPClientError, OSError) as exc:
            raise MailboxError(f"logging in to {where} failed: {exc}") from exc
        self.client = client
        self.capabilities = frozenset(c.decode().upper() if isinstance(c, bytes) else c.upper()
                                      for c in client.capabilities())
        try:
            folders = client.list_folders()
            if folders and folders[0][1]:
                self._delimiter = _text(folders[0][1])
            self._folders = {name for _, _, name in folders}
            self._listed_flags = {name: frozenset(_text(f).lower() for f in flags) for flags, _, name in folders}
            if "NAMESPACE" in self.capabilities:
                personal = client.namespace().personal
                if personal:
                    self._prefix, separator = personal[0]
                    self._delimiter = separator or self._delimiter
            else:
                self._prefix = _inbox_prefix(self._folders, self._delimiter)
        except IMAPClientError as exc:
            raise MailboxError(f"listing folders on {where} failed: {exc}") from exc
        if self._prefix and not self.readonly:
            log.info("%s keeps personal folders under %r (separator %r): a configured folder such as "
                     "Invitations/Accept is %r there", where, self._prefix, self._delimiter,
                     self._name("Invitations/Accept"))

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (IMAPClientError, OSError):
                pass
            self.client = None
            self.selected, self._view = None, None

    def release(self, keep: str | None = None) -> None:
        """Between passes. With `keep` (the inbox), keep it open read-only (EXAMINE): the server then reports new
        mail on the next NOOP, so the idle poll is that NOOP alone — where a STATUS can cost a server like Dovecot
        a scan of a big Maildir. Otherwise leave the selected folder (UNSELECT)."""
        if keep is not None and self.client is not None:
            if self._view is None or self.selected != keep:
                try:
                    info = self._c().select_folder(self._name(keep), readonly=True)
                except (IMAPClientError, OSError):
                    return  # the next pass will find out whether the connection still works
                self.selected, self._selected_validity = keep, int(info[b"UIDVALIDITY"])
                uidnext = info.get(b"UIDNEXT")
                self._view = (self._selected_validity, int(uidnext)) if uidnext is not None else None
                self._view_changed = False
            return
        # never CLOSE instead: it would expunge whatever the *user* marked \Deleted in the folder
        if self.selected is not None and self.client is not None and "UNSELECT" in self.capabilities:
            try:
                self._c().unselect_folder()
            except (IMAPClientError, OSError):
                pass  # the next pass will find out whether the connection still works
            self.selected, self._view = None, None

    def alive(self) -> bool:
        try:
            self._noop()
            return True
        except (IMAPClientError, OSError, MailboxError):
            return False

    def _noop(self) -> None:
        """NOOP; with the inbox kept open, note whether the server reports a change in it."""
        _, responses = self._c().noop()
        self._polled = self._view is not None  # a peek right after this one needs no second NOOP
        if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT", b"EXPUNGE", b"VANISHED")
               for r in responses or ()):
            self._view_changed = True

    def _c(self) -> imapclient.IMAPClient:
        if self.client is None:
            raise MailboxError("not connected")
        return self.client

    def _name(self, folder: str) -> str:
        """The server's name of a configured folder: "/" becomes the server's separator, and the name goes under
        the personal namespace's prefix unless it is written in full (starting with the prefix, or INBOX)."""
        if folder.upper() == "INBOX":
            return folder
        name = folder.replace("/", self._delimiter)
        if not self._prefix or name.startswith(self._prefix) or name.upper().startswith("INBOX" + self._delimiter):
            return name
        return self._prefix + name

    def real_name(self, folder: str) -> str:
        """The name a configured folder has on this server (for messages to the user)."""
        return self._name(folder)

    def _select(self, folder: str) -> dict:
        try:
            info = self._c().select_folder(self._name(folder), readonly=self.readonly)
        except IMAPClientError as exc:
            raise MailboxError(f"cannot open the folder {folder!r}: {exc}",
                               hint="Check the [folders] section of the config.") from exc
        self.selected = folder
        self._selected_validity = int(info[b"UIDVALIDITY"]) if b"UIDVALIDITY" in info else None
        self._view = None
        return info

    # --- reading -----------------------------------------------------------------------------------------------

    def uidvalidity(self, folder: str) -> int:
        return int(self._select(folder)[b"UIDVALIDITY"])

    def peek(self, folder: str) -> tuple[int, int | None]:
        if self._view is not None and self.selected == folder:
            if not self._view_changed and not self._polled:
                self._noop()
            self._polled = False
            if not self._view_changed:
                return self._view  # nothing came or went since the inbox was opened: no STATUS needed
        try:
            status = self._c().folder_status(self._name(folder), ["UIDVALIDITY", "UIDNEXT"])
        except IMAPClientError as exc:
            raise MailboxError(f"cannot open the folder {folder!r}: {exc}",
                               hint="Check the [folders] section of the config.") from exc
        return int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])

    def fetch_new(self, folder: str, after_uid: int, batch_size: int, known: frozenset[str] = frozenset(),
                  section: str = "") -> Iterator[list[RawMessage]]:
        self._ensure_selected(folder)
        info_validity = None
        try:
            uids = [u for u in self._c().search(["UID", f"{after_uid + 1}:*"]) if u > after_uid]
        except IMAPClientError as exc:
            raise MailboxError(f"searching {folder!r} failed: {exc}") from exc
        uids.sort()
        for start in range(0, len(uids), batch_size):
            if info_validity is None:
                info_validity = self._validity_of_selected()
            yield self._fetch(folder, uids[start:start + batch_size], section, info_validity)

    def fetch(self, folder: str, uids: list[str]) -> list[RawMessage]:
        self._ensure_selected(folder)
        return self._fetch(folder, [int(u) for u in uids], "", self._validity_of_selected()) if uids else []

    def _fetch(self, folder: str, uids: list[int], section: str, validity: int) -> list[RawMessage]:
        self._ensure_selected(folder)
        key = f"BODY[{section}]".encode()
        try:
            data = self._raw_fetch(uids, f"(BODY.PEEK[{section}] FLAGS)")
        except IMAPClientError as exc:
            raise MailboxError(f"fetching from {folder!r} failed: {exc}") from exc
        items = plain_fetch_items(data, key)
        if items is None:  # a shape the plain reader does not know: imapclient's parser reads it
            items = {uid: (item.get(key), tuple(item.get(b"FLAGS", ()))) for uid, item in
                     parse_fetch_response(data, self._c().normalise_times, True).items() if key in item}
        batch = []
        for uid in uids:
            found = items.get(uid)
            if found is None or found[0] is _NOTHING:
                continue  # expunged by someone else between SEARCH and FETCH
            body, flags = found
            batch.append(RawMessage(MessageRef(folder, validity, str(uid)), body or b"", _flag_set(flags)))
        return batch

    def _raw_fetch(self, uids: list[int], items: str) -> list:
        """UID FETCH as imapclient's fetch() sends it, the responses left as imaplib hands them over: imapclient's
        general response parser (a tokenizer in Python) costs three times what reading the bytes does."""
        client = self._c()
        imap = client._imap
        tag = imap._command("UID", "FETCH", join_message_ids(uids), items)
        typ, data = imap._command_complete("FETCH", tag)
        client._checkok("fetch", typ, data)
        return imap._untagged_response(typ, data, "FETCH")[1]

    def _validity_of_selected(self) -> int:
        """The selected folder's UIDVALIDITY, from the SELECT response (no extra round trip)."""
        if self._selected_validity is None:
            status = self._c().folder_status(self._name(self.selected or "INBOX"), ["UIDVALIDITY"])
            self._selected_validity = int(status[b"UIDVALIDITY"])
        return self._selected_validity

    def exists(self, ref: MessageRef) -> bool:
        self._ensure_selected(ref.folder)
        try:
            return bool(self._c().search(["UID", ref.uid]))
        except IMAPClientError as exc:
            raise MailboxError(f"searching {ref.folder!r} failed: {exc}") from exc

    def find_message_id(self, folder: str, message_id: str) -> list[str]:
        previous = self.selected
        self._ensure_selected(folder)
        try:
            if message_id.isascii():
                return [str(u) for u in self._c().search(["HEADER", "Message-ID", message_id])]
            return self._find_unusual_message_id(message_id)
        except IMAPClientError as exc:
            raise MailboxError(f"searching {folder!r} failed: {exc}") from exc
        finally:
            if previous and previous != folder:  # a pass may be in the middle of reading another folder
                self._select(previous)

    def _find_unusual_message_id(self, message_id: str) -> list[str]:
        """A Message-ID with 8-bit bytes (decoded, perhaps to U+FFFD) cannot be an ASCII SEARCH key: search for its
        longest ASCII stretch, then keep the messages whose Message-ID, read as the parser reads it, is this one."""
        stretch = max(re.findall(r"[!-~]+", message_id), key=len, default="")
        if len(stretch) < 8:
            return []  # too little to search for without reading every header of the folder
        uids = self._c().search(["HEADER", "Message-ID", stretch])
        key = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
        heads = self._c().fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        return [str(uid) for uid, item in sorted(heads.items()) if message_id_of(item.get(key) or b"") == message_id]

    def present(self, folder: str, uids: list[str]) -> set[str]:
        if not uids:
            return set()
        self._ensure_selected(folder)
        try:
            found = self._c().search(["UID", ",".join(uids), "NOT", "DELETED"])
        except IMAPClientError as exc:
            raise MailboxError(f"searching {folder!r} failed: {exc}") from exc
        return {str(u) for u in found}

    def signature(self, folder: str) -> str:
        items = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"] + (["HIGHESTMODSEQ"] if "CONDSTORE" in self.capabilities
                                                          else [])
        try:
            status = self._c().folder_status(self._name(folder), items)
        except IMAPClientError as exc:
            raise MailboxError(f"cannot open the folder {folder!r}: {exc}") from exc
        return " ".join(f"{k}={status.get(k.encode(), '')}" for k in items)

    def _ensure_selected(self, folder: str) -> None:
        if self.selected != folder or self._view is not None:  # the kept read-only view cannot be written to
            self._select(folder)

    def sent_folder(self, configured: str = "") -> str | None:
        if configured:
            return self._configured(configured, "folders.sent")
        if "sent" not in self._special:
            special = self._special_folder(imapclient.imapclient.SENT)
            self._special["sent"] = special.replace(self._delimiter, "/") if special else None
        return self._special["sent"]

    def _special_folder(self, flag: bytes) -> str | None:
        """The folder LIST marks with a SPECIAL-USE flag, compared case-insensitively (Cyrus lists \\drafts and
        \\sent); failing that, imapclient's guess by the usual names."""
        wanted = _text(flag).lower()
        marked = sorted(name for name, flags in self._listed_flags.items() if wanted in flags)
        if marked:
            return marked[0]
        try:
            return self._c().find_special_folder(flag)
        except IMAPClientError:
            return None

    @property
    def moves_atomically(self) -> bool:
        return "MOVE" in self.capabilities

    @property
    def can_remove(self) -> bool:
        return "MOVE" in self.capabilities or "UIDPLUS" in self.capabilities

    def describe(self, folders: dict[str, str]) -> str:
        """For `check-config --online`: the server's names of the configured folders (none is created), the Drafts
        and Sent folders found, and how mail is filed there."""
        where = f"namespace prefix {self._prefix!r}, separator {self._delimiter!r}"
        lines = [f"    on the server ({where}):"]
        for role in ("inbox", "accept", "screening", "declined", "suspicious"):
            name = self._name(folders[role])
            lines.append(f"      {role + ':':<12}{name}" + ("" if name in self._folders else " (created when needed)"))
        for role, found in (("drafts", folders.get("drafts") or self._special_folder(imapclient.imapclient.DRAFTS)),
                            ("sent", folders.get("sent") or self._special_folder(imapclient.imapclient.SENT))):
            lines.append(f"      {role + ':':<12}" + (self._name(found.replace(self._delimiter, "/")) if found
                                                      else "none found (set folders." + role + ")"))
        if "MOVE" in self.capabilities:
            how = "UID MOVE"
        elif "UIDPLUS" in self.capabilities:
            how = "UID COPY, then UID EXPUNGE of that message (no MOVE)"
        elif self.copy_without_move:
            how = "UID COPY only, the originals stay (no MOVE, no UIDPLUS; account.copy_without_move)"
        else:
            how = ("nothing is filed: the server offers neither MOVE nor UIDPLUS (screened mail gets the keyword "
                   f"{KEYWORD}; see account.copy_without_move)")
        lines.append(f"      {'filing:':<12}{how}")
        return "\n".join(lines)

    # --- watching ----------------------------------------------------------------------------------------------

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def watch(self, folder: str, on_new: Callable[[], None], stop: threading.Event,
              renew_every: float = 600.0, on_ready: Callable[[], None] = lambda: None) -> None:
        """IMAP IDLE on a folder until `stop` is set: call on_new() when the server reports new mail, on_ready()
        once the folder is selected. IDLE is re-issued every `renew_every` seconds, well inside the 29-minute
        limit of RFC 2177."""
        client = self._c()
        try:
            client.select_folder(self._name(folder), readonly=True)
            on_ready()
            while not stop.is_set():
                client.idle()
                started = time.monotonic()
                try:
                    while not stop.is_set() and time.monotonic() - started < renew_every:
                        responses = client.idle_check(timeout=1)
                        if any(r and r[0] == b"BYE" for r in responses) or _peer_closed(client.socket()):
                            raise MailboxError(f"{self.host} closed the connection")
                        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                            on_new()
                finally:
                    if not stop.is_set() or client.socket().fileno() != -1:
                        try:
                            client.idle_done()
                        except (IMAPClientError, OSError):
                            pass  # the connection is gone; the error that ended IDLE is what matters
        except (IMAPClientError, OSError) as exc:
            raise MailboxError(f"watching {folder!r} on {self.host} failed: {exc}") from exc

    # --- writing -----------------------------------------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        name = self._name(folder)
        if self._folders is not None and name in self._folders:
            return
        try:
            self._c().create_folder(name)
            if name != folder:
                log.info("created the folder %r on %s (configured as %r)", name, self.host, folder)
        except IMAPClientError as exc:
            # created meanwhile by someone else is fine: judged by RFC 5530's response code or by LIST, never by
            # the text ("nonexistent namespace" contains "exist")
            if _response_code(str(exc)) != "ALREADYEXISTS" and not self._listed(name):
                raise MailboxError(f"cannot create the folder {name!r} (configured as {folder!r}): {exc}",
                                   hint="Check the [folders] section of the config.") from exc
        try:
            self._c().subscribe_folder(name)
        except IMAPClientError:
            pass  # subscribing is a courtesy for mail clients, not needed by us
        if self._folders is not None:
            self._folders.add(name)

    def _listed(self, name: str) -> bool:
        try:
            return bool(self._c().folder_exists(name))
        except IMAPClientError:
            return False

    def drafts_folder(self, configured: str = "") -> str:
        if configured:
            return self._configured(configured, "folders.drafts")
        if self._special.get("drafts"):
            return self._special["drafts"]
        special = self._special_folder(imapclient.imapclient.DRAFTS)
        if special:
            self._special["drafts"] = special.replace(self._delimiter, "/")
            return self._special["drafts"]
        for candidate in ("Drafts", "INBOX" + self._delimiter + "Drafts"):
            if self._folders and candidate in self._folders:
                return candidate.replace(self._delimiter, "/")
        raise MailboxError("the server has no Drafts folder (none is marked \\Drafts and none is named Drafts); its "
                           f"folders are: {self._folder_list()}",
                           hint="Set folders.drafts to the folder your mail client keeps drafts in.")

    def _configured(self, folder: str, key: str) -> str:
        """A drafts or sent folder the config names must exist, as a missing default Drafts is an error: a typo
        would otherwise become a new folder nobody looks at."""
        if self._folders is None or self._name(folder) in self._folders:
            return folder
        raise MailboxError(f"{key} names the folder {folder!r}, which does not exist on {self.host}; its folders "
                           f"are: {self._folder_list()}",
                           hint=f"Set {key} to one of them (or leave it empty to use the server's \\"
                                f"{key.split('.')[1].capitalize()} folder).")

    def _folder_list(self) -> str:
        existing = sorted(name.replace(self._delimiter, "/") for name in self._folders or ())
        return ", ".join(existing[:30]) + (f" and {len(existing) - 30} more" if len(existing) > 30 else "")

    def append(self, folder: str, raws: list[bytes], flags: tuple[str, ...]) -> list[str | None]:
        uids: list[str | None] = []

        def write() -> None:
            uids.clear()
            if len(raws) > 1 and "MULTIAPPEND" in self.capabilities:
                result = self._c().multiappend(self._name(folder), [{"msg": raw, "flags": flags} for raw in raws])
                # imapclient hands back a refused MULTIAPPEND as ('NO', [text]) instead of raising: check it
                if isinstance(result, tuple) and result and str(result[0]).upper() not in ("OK", "B'OK'"):
                    detail = result[1][0] if len(result) > 1 and result[1] else result[0]
                    raise IMAPClientError(f"multiappend failed: {detail.decode() if isinstance(detail, bytes) else detail}")
                uids.extend(_appended_uids(result, len(raws)))
            else:
                for raw in raws:
                    uids.extend(_appended_uids(self._c().append(self._name(folder), raw, flags=flags), 1))
        try:
            self._retrying_on_trycreate(folder, write)
        except IMAPClientError as exc:
            raise MailboxError(f"saving {len(raws)} message(s) to {folder!r} failed: {exc}") from exc
        return uids

    def delete(self, folder: str, uids: list[str]) -> None:
        self._ensure_selected(folder)
        if "UIDPLUS" not in self.capabilities:
            raise MailboxError("the server does not offer UIDPLUS, so a message cannot be removed without expunging "
                               "the whole folder; inboxbot refuses to do that")
        numbers = [int(u) for u in uids]
        try:
            self._c().add_flags(numbers, [imapclient.DELETED], silent=True)
            self._c().uid_expunge(numbers)  # exactly these UIDs
        except IMAPClientError as exc:
            raise MailboxError(f"removing {_uids(uids)} from {folder!r} failed: {exc}") from exc

    def add_flags(self, folder: str, uids: list[str], flags: tuple[str, ...]) -> None:
        self._ensure_selected(folder)
        try:
            self._c().add_flags([int(u) for u in uids], flags, silent=True)
        except IMAPClientError as exc:
            raise MailboxError(f"setting flags on {_uids(uids)} failed: {exc}") from exc

    def move(self, folder: str, uids: list[str], target: str) -> None:
        self._ensure_selected(folder)
        numbers = [int(u) for u in uids]
        name = self._name(target)
        try:
            self._retrying_on_trycreate(target, lambda: self._move(numbers, name))
        except IMAPClientError as exc:
            raise MailboxError(f"moving {_uids(uids)} to {target!r} failed: {exc}") from exc

    def _retrying_on_trycreate(self, folder: str, write: Callable[[], object]) -> None:
        """A folder deleted under us (by the user, or another client) answers [TRYCREATE]: create it, once."""
        try:
            write()
        except IMAPClientError as exc:
            if "TRYCREATE" not in str(exc).upper():
                raise
            if self._folders is not None:
                self._folders.discard(self._name(folder))
            self.ensure_folder(folder)
            write()

    def _move(self, numbers: list[int], name: str) -> None:
        if "MOVE" in self.capabilities:
            self._c().move(numbers, name)
        elif "UIDPLUS" in self.capabilities:
            self._c().copy(numbers, name)
            self._c().add_flags(numbers, [imapclient.DELETED], silent=True)
            self._c().uid_expunge(numbers)  # exactly these UIDs: never a folder-wide EXPUNGE
        elif self.copy_without_move:
            self._c().copy(numbers, name)  # as the user asked: the originals stay
        else:
            raise MailboxError("the server offers neither MOVE nor UIDPLUS, so a message cannot be moved "
                               "without expunging the whole folder; inboxbot refuses to do that",
                               hint="Use a server with MOVE or UIDPLUS (every current server has one).")


_RESPONSE_CODE = re.compile(r"\[([A-Za-z-]+)[\] ]")
# RFC 5530: a refused login for a reason that passes by itself (a connection limit, a busy or unavailable
# server, a mailbox in use): a short wait, not the long one for a wrong password
_TRANSIENT_LOGIN_CODES = {"LIMIT", "UNAVAILABLE", "INUSE"}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _inbox_prefix(folders: set[str], delimiter: str) -> str:
    """A server without NAMESPACE: when every folder but INBOX is beneath it (Courier's layout), new ones go there
    too."""
    prefix = "INBOX" + delimiter
    others = [name for name in folders if name.upper() != "INBOX"]
    return prefix if others and all(name.upper().startswith(prefix) for name in others) else ""


def _response_code(text: str) -> str | None:
    """The RFC 5530 response code of a server's NO/BAD text (imaplib's error message), upper-cased."""
    found = _RESPONSE_CODE.search(text)
    return found.group(1).upper() if found else None


def _login_refused(where: str, username: str, detail: str) -> MailboxError:
    """A refused login, classified by its response code; without one it is taken for wrong credentials."""
    code = _response_code(detail)
    if code in _TRANSIENT_LOGIN_CODES:
        return ServerBusy(f"{where} refused the login for {username} for now ([{code}]: {detail})")
    return AuthenticationFailed(f"{where} rejected the login for {username}")


_APPENDUID = re.compile(rb"APPENDUID \d+ ([\d:,]+)")


def _appended_uids(response: object, count: int) -> list[str | None]:
    """The UIDs a server with UIDPLUS gives appended messages ([APPENDUID validity uid-set]); None where unknown."""
    text = response if isinstance(response, bytes) else str(response).encode()
    found = _APPENDUID.search(text)
    uids: list[str | None] = []
    for part in found.group(1).split(b",") if found else ():
        low, _, high = part.partition(b":")
        uids += [str(u) for u in range(int(low), int(high or low) + 1)]
    return uids if len(uids) == count else [None] * count


def _uids(uids: list[str]) -> str:
    return f"message {uids[0]}" if len(uids) == 1 else f"{len(uids)} messages ({uids[0]}…{uids[-1]})"
