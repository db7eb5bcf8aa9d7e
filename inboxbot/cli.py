"""The command line: wires config, credentials, mailbox, ledger, chain and composer together.

Errors users see are one sentence and a hint (exit status 2); tracebacks only with --debug.
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import re
import shutil
import ssl
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Sequence

from wcwidth import wcwidth

from inboxbot import __version__, answers, config, parse
from inboxbot.compose import Composer, Owner
from inboxbot.errors import AuthenticationFailed, ConfigError, InboxbotError, StateError, TemplateError
from inboxbot.model import Invitation, Verdict
from inboxbot.parse.mime import INVISIBLE
from inboxbot.policy.chain import Chain, build_chain
from inboxbot.progress import Progress
from inboxbot.store import Ledger
from inboxbot.worker import PassReport, Worker

log = logging.getLogger("inboxbot")
UNFILED_EXIT = 3  # `once`: the pass ran, but the server cannot move mail safely and nothing was filed

EPILOG = """\
Start with `inboxbot demo`, then `inboxbot init` (or copy config.example.toml), edit it, and run
`inboxbot once --dry-run`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it cannot be caught
        return status
    except BrokenPipeError:  # `inboxbot status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE
    except InboxbotError as exc:
        if args.debug:
            log.exception("failed")
        print(f"inboxbot: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  → {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    def common(default: object) -> argparse.ArgumentParser:
        """The global options; after the command their defaults are SUPPRESS, so that `inboxbot --debug once`
        keeps the --debug given before it."""
        options = argparse.ArgumentParser(add_help=False)
        options.add_argument("--debug", action="store_true", default=default or False,
                             help="show tracebacks and debug logs")
        options.add_argument("--log-format", choices=("text", "json"), default=default or "text",
                             help="log lines as text (default) or one JSON object per line")
        return options

    parser = argparse.ArgumentParser(
        prog="inboxbot", parents=[common(None)], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Screens connection invitations (LinkedIn, XING, Facebook) in your mailbox, files them, and "
                    "drafts the replies you would write.")
    parser.add_argument("--version", action="version", version=f"inboxbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands, in the order a new user "
                                                                            "needs them")
    after = common(argparse.SUPPRESS)

    def command(name: str, func, help_: str, needs_config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[after], help=help_, description=help_)
        if needs_config:
            p.add_argument("--config", "-c", metavar="FILE", default=config.default_path(),
                           help="the TOML config file (default: $INBOXBOT_CONFIG, else "
                                "$XDG_CONFIG_HOME/inboxbot/config.toml: %(default)s)")
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "screen a bundled sample mailbox and show the result (no server, no config)",
                needs_config=False)
    p.add_argument("--keep", action="store_true", help="keep the temporary demo folder and print its path")
    command("init", cmd_init, "write a commented config file to start from (asks for your account on a terminal)")
    p = command("check-config", cmd_check_config, "validate the config file and list every problem")
    p.add_argument("--online", action="store_true",
                   help="then log in to each IMAP account and show the real folder names and how mail is moved there")
    p = command("explain", cmd_explain, "parse and screen saved messages without any network access, or messages "
                                        "on the server (--uid)")
    p.add_argument("--json", action="store_true", help="one JSON object per message, per line")
    p.add_argument("--uid", action="append", metavar="UID",
                   help="a message on the server, by its UID in --folder (read, never changed or marked read); "
                        "may be given more than once")
    p.add_argument("--folder", metavar="FOLDER", help="the folder of --uid (default: folders.inbox)")
    p.add_argument("files", nargs="*", metavar="EML", help="saved messages (.eml)")
    command("set-password", cmd_set_password, "store the IMAP password in the system keyring")
    p = command("once", cmd_once, "screen the new messages in the inbox once, then exit")
    p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    _wait_option(p)
    _wait_option(command("run", cmd_run, "screen every schedule.interval and, with IMAP IDLE, as soon as mail "
                                         "arrives, until SIGTERM/SIGINT (SIGHUP reloads the config)"))
    p = command("status", cmd_status, "what inboxbot has been doing: last pass, errors, drafts, next pass")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when an account is not healthy: its last attempt failed, or it has had no "
                        "successful pass for 3 intervals (for health checks)")
    p = command("pending", cmd_pending, "the invitations inboxbot asked about that have not been answered, with "
                                        "their age")
    p.add_argument("--account", metavar="NAME", help="only this account")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p = command("replay", cmd_replay, "screen the invitations already in the state database again under this config "
                                      "and show what would change (no server needed)")
    p.add_argument("--since", metavar="DATE", help="only invitations first seen on or after DATE (YYYY-MM-DD)")
    p.add_argument("--account", metavar="NAME", help="only this account")
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.add_argument("--apply", action="store_true",
                   help="carry the changes out: move the messages, add the new drafts, remove inboxbot's own "
                        "obsolete drafts you have not edited")
    _wait_option(p)
    p = command("contacts", cmd_contacts, "the inviters inboxbot learned from your corrections (moves to the "
                                          "Accept or Declined folder)")
    p.add_argument("action", nargs="?", choices=("list", "remove"), default="list", help="list (default) or remove")
    p.add_argument("keys", nargs="*", metavar="KEY", help="for remove: the keys `contacts list` shows")
    p.add_argument("--json", action="store_true", help="list as JSON")
    return parser


def _wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="if another inboxbot is working on the same state database, "
                                                       "wait for it to finish instead of exiting (status 2)")


def single_instance(args: argparse.Namespace, accounts: Sequence[config.Settings]):
    """The lock that keeps a second inboxbot off the ledgers of these accounts while this one changes things."""
    from inboxbot import instance
    return instance.single([a.path(a.state.database) for a in accounts], wait=args.wait)


def _iso(record: logging.LogRecord) -> str:
    """ISO 8601 with the zone, to the millisecond: what log collectors parse without being told the format."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's
        return _iso(record)

    def format(self, record: logging.LogRecord) -> str:
        return _escaped(super().format(record))  # log lines name inviters: text from mail


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": _iso(record), "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage()}
        for key in ("decision", "uid"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def _setup_logging(args: argparse.Namespace) -> None:
    """One handler, on the root logger, so that every line (the scheduler's too) has the chosen format.
    Other libraries say only warnings: their debug output can carry protocol traces."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if args.log_format == "json"
                         else _TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    level = logging.DEBUG if args.debug else (logging.INFO if getattr(args, "command", "") == "run" else
                                                logging.WARNING)
    handler.set_name("inboxbot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "inboxbot"]:  # main() run again, as in tests
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    own = logging.getLogger("inboxbot")
    own.handlers[:] = []
    own.setLevel(level)


# --- wiring ---------------------------------------------------------------------------------------------------

def load_settings(path: str, *, need_account: bool = True) -> config.Settings:
    return config.load(path, need_account=need_account)


def make_composer(settings: config.Settings) -> Composer | None:
    if settings.replies.mode == "off":
        return None
    owner = settings.owner
    return Composer(Owner(owner.name, owner.email, owner.language, owner.location),
                    settings.path(settings.replies.templates), settings.replies.meeting_options)


def open_mailbox(settings: config.Settings):
    if settings.account.type == "maildir":
        from inboxbot.mail.maildir import MaildirMailbox
        box = MaildirMailbox(settings.path(settings.account.path), settings.folders.inbox)
    else:
        from inboxbot.credentials import get_access_token, login_hint, password_and_source
        from inboxbot.mail.imap import ImapMailbox
        account = settings.account
        oauth2 = account.auth == "oauth2"
        secret, source = (get_access_token(settings), "") if oauth2 else password_and_source(settings)
        context = ssl.create_default_context(cafile=str(settings.path(account.tls_ca_file))
                                             if account.tls_ca_file else None)
        box = ImapMailbox(account.host, account.port, account.security, account.username, secret,
                          timeout=account.timeout, oauth2_mechanism=account.oauth2_mechanism if oauth2 else None,
                          ssl_context=context, copy_without_move=account.copy_without_move)
        try:
            box.open()
        except AuthenticationFailed as exc:
            if not source:
                raise
            where = "the system keyring" if source == "keyring" else source
            raise AuthenticationFailed(f"{exc} (password from {where})", hint=login_hint(source)) from exc
        return box
    box.open()
    return box


def make_sender(settings: config.Settings):
    if settings.replies.mode != "send":
        return None
    from inboxbot.credentials import get_password
    from inboxbot.smtp import SmtpSender
    smtp = settings.smtp
    password = get_password(settings, "smtp") if smtp.username else ""
    return SmtpSender(smtp.host, smtp.port, smtp.security, smtp.username, password, timeout=smtp.timeout)


def make_worker(settings: config.Settings, mailbox, ledger, chain: Chain, composer: Composer | None,
                should_stop=lambda: False) -> Worker:
    return Worker(settings.account.name, mailbox, ledger, chain, composer, settings, should_stop, make_sender(settings))


class Session:
    """One account's ledger and mailbox connection. The daemon keeps it open between passes, so that a pass that
    finds nothing new costs one NOOP (the inbox stays open read-only); any failure drops the connection and the next pass reconnects."""

    def __init__(self, settings: config.Settings, chain: Chain, composer: Composer | None) -> None:
        self.settings, self.chain, self.composer = settings, chain, composer
        self.ledger = None
        self.mailbox = None
        self._stale = False

    def _ledger(self, dry_run: bool = False):
        from inboxbot.store import Ledger
        if self.ledger is None:
            path = self.settings.path(self.settings.state.database)
            # a dry run leaves no file behind, not even an empty ledger: before the first real run it reads none
            self.ledger = Ledger(":memory:" if dry_run and not path.exists() else path)
        return self.ledger

    def record(self, **status) -> None:
        """The daemon's account status (next pass, last success or error), for `inboxbot status`."""
        self._ledger().set_account_status(self.settings.account.name, **status)

    def run(self, *, dry_run: bool = False, should_stop=lambda: False, keep: bool = True) -> PassReport:
        """One pass; with `keep`, the inbox stays open read-only for the next one (the daemon's cheap poll)."""
        self._ledger(dry_run)
        if self.mailbox is not None and (self._stale or not self.mailbox.alive()):
            self._drop_mailbox()  # the server closed it while we waited (or the config changed): reconnect quietly
            self._stale = False
        if self.mailbox is None:
            self.mailbox = open_mailbox(self.settings)
        report = None
        try:
            for source in self.settings.folders.sources:  # each with its own UID mark, one after the other
                settings = replace(self.settings, folders=config.Section({**self.settings.folders.values,
                                                                          "inbox": source}))
                part = make_worker(settings, self.mailbox, self.ledger, self.chain, self.composer,
                                   should_stop).run_pass(dry_run=dry_run)
                report = part if report is None else _combined(report, part)
                if should_stop():
                    break
        except BaseException:
            self._drop_mailbox()
            raise
        if keep:
            self.mailbox.release(keep=self.settings.folders.inbox)
        return report

    def update(self, settings: config.Settings, chain: Chain, composer: Composer | None) -> None:
        """A reloaded config, for the next pass (the one running keeps what it started with)."""
        if settings.account != self.settings.account:
            self._stale = True  # another server or login: the next pass connects anew
        self.settings, self.chain, self.composer = settings, chain, composer

    def _drop_mailbox(self) -> None:
        if self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None

    def close(self) -> None:
        self._drop_mailbox()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None


def _combined(report: PassReport, more: PassReport) -> PassReport:
    """The report of a pass over several source folders: one summary for the account."""
    for row in more.handled:
        report.add(row)
    report.counts.update(more.counts)
    report.skipped += more.skipped
    report.errors += more.errors
    report.sent += more.sent
    report.seconds += more.seconds
    report.timings = {k: report.timings.get(k, 0.0) + more.timings.get(k, 0.0)
                      for k in report.timings.keys() | more.timings.keys()}
    return report


def run_one_pass(settings: config.Settings, chain: Chain, composer: Composer | None, *, dry_run: bool = False,
                 should_stop=lambda: False) -> PassReport:
    session = Session(settings, chain, composer)
    try:
        report = session.run(dry_run=dry_run, should_stop=should_stop, keep=False)  # logs out next: keep nothing
        if not dry_run:  # `status --check` for cron users: a `once` counts like a pass of the daemon
            session.record(success=True)
        return report
    except InboxbotError as exc:
        if not dry_run and session.ledger is not None:
            session.record(success=False, error=str(exc))
        raise
    finally:
        session.close()


# --- commands -------------------------------------------------------------------------------------------------

# what `inboxbot init` asks on a terminal: (question, the example's line, the key it sets)
_INIT_QUESTIONS = (("IMAP server", 'host = "imap.example.com"', "host"),
                   ("IMAP login (usually your address)", 'username = "me@example.com"', "username"),
                   ("Your name, as replies are signed", 'name = "Thom Example"', "name"),
                   ("Your address (drafts you paste go here)", 'email = "thom@example.com"', "email"))


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.config)
    if target.exists():
        raise InboxbotError(f"{target} exists already; it was left as it is",
                            hint=f"Check it with `inboxbot check-config --config {target}`, or name another file "
                                 "with --config.")
    text = (files("inboxbot") / "config.example.toml").read_text(encoding="utf-8")
    if sys.stdin.isatty():
        print(f"Writing {target}. Press Enter to keep an answer as in the example.")
        for question, line, key in _INIT_QUESTIONS:
            answer = input(f"{question}: ").strip()
            if answer:
                text = text.replace(line, f"{key} = {json.dumps(answer, ensure_ascii=False)}", 1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
            out.write(text)  # private from the start: it may come to name a password_command
    except OSError as exc:
        raise InboxbotError(f"cannot write {target}: {exc.strerror}",
                            hint="Name a writable place with --config FILE.") from exc
    where = "" if str(target) == config.default_path() else f" --config {target}"
    print(f"Wrote {target}: a commented config with every key and its default. Next:\n"
          f"  edit it ([account] and [owner]), then `inboxbot check-config{where}`,\n"
          f"  `inboxbot set-password{where}`, and `inboxbot once --dry-run{where}`.")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    make_composer(settings)
    print(f"{args.config}: OK — replies: {settings.replies.mode}")
    for account in settings.accounts:
        build_chain(account)
        a = account.account
        where = (f"maildir {account.path(a.path)}" if a.type == "maildir"
                 else f"imap {a.username}@{a.host}:{a.port} ({a.security}, {a.auth})")
        print(f"  account {a.name!r}: {where}; {len(account.policy.contacts)} contact file(s)")
        if getattr(args, "online", False) and a.type == "imap":
            mailbox = open_mailbox(account)
            try:
                print(mailbox.describe(dict(account.folders.values)))
            finally:
                mailbox.close()
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    composer = make_composer(settings)
    accounts = settings.accounts
    chains = [build_chain(account) for account in accounts]
    with contextlib.nullcontext() if args.dry_run else single_instance(args, accounts):
        return _once(args, accounts, chains, composer)


def _once(args: argparse.Namespace, accounts, chains: list[Chain], composer: Composer | None) -> int:
    if len(accounts) == 1:
        report = run_one_pass(accounts[0], chains[0], composer, dry_run=args.dry_run)
        print_report(report)
        return UNFILED_EXIT if report.unfiled and not args.dry_run else 0
    # several accounts: concurrently, so that one slow or broken account holds up nobody
    with ThreadPoolExecutor(max_workers=min(8, len(accounts))) as pool:
        futures = [pool.submit(run_one_pass, a, c, composer, dry_run=args.dry_run) for a, c in zip(accounts, chains)]
    status = 0
    for account, future in zip(accounts, futures):
        try:
            report = future.result()
            print_report(report)
            if report.unfiled and not args.dry_run:
                status = status or UNFILED_EXIT
        except InboxbotError as exc:
            status = exc.exit_code
            print(f"{account.account.name}: failed: {exc}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
        print()
    return status


def cmd_run(args: argparse.Namespace) -> int:
    from inboxbot import instance
    from inboxbot.scheduler import run_forever
    settings = load_settings(args.config)
    composer = make_composer(settings)
    sessions = {account.account.name: Session(account, build_chain(account), composer)
                for account in settings.accounts}

    def run_pass(account: config.Settings, should_stop) -> PassReport:
        return sessions[account.account.name].run(should_stop=should_stop)

    def watch(account: config.Settings, on_new, stop, on_ready) -> bool:
        mailbox = open_mailbox(account)
        try:
            if not mailbox.can_idle:
                return False
            mailbox.watch(account.folders.inbox, on_new, stop, on_ready=on_ready)
            return True
        finally:
            mailbox.close()

    def record(name: str, **status) -> None:
        """The pass's outcome into the ledger, and into the lock file, which `status` reads when the ledger
        itself cannot take it (disk full, locked, damaged)."""
        session = sessions[name]
        instance.note_error(session.settings.path(session.settings.state.database), name, status.get("error"))
        try:
            session.record(**status)
        except StateError as exc:
            log.error("%s: the outcome of the pass could not be recorded: %s", name, exc)

    def reload() -> config.Settings:
        """SIGHUP: everything checked first (config, rules, templates); only then do the sessions take it."""
        fresh = load_settings(args.config)
        fresh_composer = make_composer(fresh)
        chains = {account.account.name: build_chain(account) for account in fresh.accounts}
        for account in fresh.accounts:
            if account.account.name in sessions:
                sessions[account.account.name].update(account, chains[account.account.name], fresh_composer)
        return fresh

    try:
        with single_instance(args, settings.accounts):
            return run_forever(settings, run_pass, watch, record, reload)
    finally:
        for session in sessions.values():
            session.close()


def cmd_status(args: argparse.Namespace) -> int:
    from inboxbot.status import account_status, render
    settings = load_settings(args.config, need_account=False)
    statuses = [account_status(settings, account) for account in settings.accounts]
    print(json.dumps(statuses, indent=2) if args.json else render(statuses))
    if args.check and not all(s["healthy"] for s in statuses):
        return 1
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from inboxbot import replay
    settings = load_settings(args.config)
    since = _date(args.since, "--since") if args.since else 0.0
    accounts = _chosen_accounts(settings, args.account)
    composer = make_composer(settings)
    with single_instance(args, accounts) if args.apply else contextlib.nullcontext():
        results = _replay_accounts(args, accounts, composer, since)
    if args.json:
        print(json.dumps([{"account": name, "replayed": total,
                           "summary": replay.summary(total, changes, args.apply), "applied": bool(args.apply),
                           "notes": notes,
                           "changes": [c.as_json() for c in changes]} for name, total, changes, notes in results],
                         indent=2, ensure_ascii=False))
        return 0
    for name, total, changes, notes in results:
        print(f"{name}: {replay.summary(total, changes, args.apply)}")
        for c in changes:
            inviter = _cut(c.inviter, 26)
            print(_escaped(f"  {c.uid:>7}  {inviter}{' ' * (26 - _width(inviter))} {c.transition:<18} "
                           f"{c.new_template or '-':<18} {c.new_rule}: {c.reason}"
                           + (f" (was {c.old_rule})" if c.old_rule != c.new_rule else "")))
        for note in notes:
            print(f"  note: {note}")
    if not args.apply and any(changes for _, _, changes, _ in results):
        print("Nothing was changed. Run again with --apply to carry these changes out.")
    return 0


def _replay_accounts(args: argparse.Namespace, accounts: Sequence[config.Settings], composer: Composer | None,
                     since: float) -> list:
    from inboxbot import learning, replay
    from inboxbot.store import Ledger
    results = []
    for account in accounts:
        name = account.account.name
        ledger = Ledger(account.path(account.state.database))
        mailbox = replayer = None
        try:
            chain = build_chain(account).with_known(*learning.offline_books(ledger, name, account))
            if args.apply:
                mailbox = open_mailbox(account)
                replayer = replay.Replayer(name, mailbox, ledger, chain, composer, account)
                if replayer.resume():
                    print(f"{name}: finished a replay that had been interrupted")
            rows = ledger.replayable(name, since)
            progress = Progress(f"{name}: replaying", len(rows))
            total, changes = replay.compare(rows, chain, progress)
            progress.finish()
            if replayer is not None:
                replayer.apply(changes)
            results.append((name, total, changes, replayer.notes if replayer else []))
        finally:
            if mailbox is not None:
                mailbox.close()
            ledger.close()
    return results


def cmd_contacts(args: argparse.Namespace) -> int:
    from inboxbot.status import iso_time
    from inboxbot.store import Ledger
    settings = load_settings(args.config, need_account=False)
    ledger = Ledger(settings.path(settings.state.database))
    try:
        if args.action == "remove":
            if not args.keys:
                raise InboxbotError("name the entries to remove", hint="`inboxbot contacts list` shows their keys.")
            missing = 0
            for key in args.keys:
                gone = ledger.forget(key)
                missing += not gone
                print(f"removed {key}: it is screened like anyone else again" if gone
                      else f"no learned entry {key!r}")
            return 1 if missing else 0
        rows = [{**dict(r), "created": iso_time(r["created"])} for r in ledger.learned()]  # as `status` shows times
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        print("inboxbot has learned nobody yet: move an invitation into the Accept or Declined folder to teach it.")
    if rows and not args.json:
        print_table([("action", "who", "key", "account", "learned from")] + [
            (r["action"], _cut(_escaped(r["name"] or r["email"] or r["profile_url"] or r["key"]), 28),
             _escaped(r["key"]), r["account"], _escaped(r["source"])) for r in rows])
    return 0


def _date(value: str, option: str) -> float:
    import datetime
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%d").timestamp()
    except ValueError:
        raise InboxbotError(f"{option} {value!r} is not a date", hint="Write it as YYYY-MM-DD.") from None


def _chosen_accounts(settings: config.Settings, name: str | None) -> tuple[config.Settings, ...]:
    if name is None:
        return settings.accounts
    chosen = tuple(a for a in settings.accounts if a.account.name == name)
    if not chosen:
        known = ", ".join(a.account.name for a in settings.accounts)
        raise InboxbotError(f"there is no account {name!r} in the config", hint=f"The accounts are: {known}.")
    return chosen


def cmd_set_password(args: argparse.Namespace) -> int:
    from inboxbot.credentials import require_keyring, set_password
    settings = load_settings(args.config)
    require_keyring()  # before asking for a password that could not be kept
    if sys.stdin.isatty():
        password = getpass.getpass(f"IMAP password for {settings.account.username}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ConfigError([("", "no password given")])
    set_password(settings, password)
    print(f"Stored the password for {settings.account.username} in the system keyring (service \"inboxbot\").")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    if not args.files and not args.uid:
        raise InboxbotError("name what to explain: saved messages (EML files), or --uid N for one on the server",
                            hint="e.g. `inboxbot explain invitation.eml` or `inboxbot explain --folder INBOX --uid 42`")
    if args.folder and not args.uid:
        raise InboxbotError("--folder needs --uid: which message of it to explain")
    settings = load_settings(args.config, need_account=bool(args.uid))
    chain = build_chain(settings)
    composer = make_composer(settings)
    status = 0
    ledger = _existing_ledger(settings)  # to show which invitation an answer belongs to
    accounts = [(a.account.name, a.folders.values["screening"], a.owner.email) for a in settings.accounts]
    for name, raw, problem in [*_saved_messages(args.files), *_server_messages(settings, args.folder, args.uid or [])]:
        if raw is None:
            status = 1
            print(json.dumps({"source": name, "error": problem}) if args.json else f"{name}: {problem}")
            continue
        inv = parse.parse(raw)
        verdict = chain.screen(inv)
        record = explain_record(name, inv, verdict, chain, composer)
        extra = answers.explained(raw, inv, record["authentic"], ledger, accounts)
        record.update(extra)
        print(json.dumps(record, ensure_ascii=False) if args.json else
              "\n".join([explain_text(record)] + answers.explained_text(record)))
    if ledger is not None:
        ledger.close()
    return status


def _saved_messages(names: list[str]) -> list[tuple[str, bytes | None, str]]:
    """(source, the message or None, why not) for each file."""
    out = []
    for name in names:
        try:
            out.append((name, Path(name).read_bytes(), ""))
        except OSError as exc:
            out.append((name, None, f"cannot read: {exc.strerror}"))
    return out


def _server_messages(settings: config.Settings, folder: str | None, uids: list[str]
                     ) -> list[tuple[str, bytes | None, str]]:
    """(source, the message or None, why not) for each UID in a folder of the (first) account's server."""
    if not uids:
        return []
    account = settings.accounts[0]
    folder = folder or account.folders.inbox
    if account.account.type == "imap" and not all(uid.isdigit() for uid in uids):
        raise InboxbotError(f"an IMAP UID is a number, got {', '.join(u for u in uids if not u.isdigit())}")
    mailbox = open_mailbox(account)
    try:
        found = {m.ref.uid: m.raw for m in mailbox.fetch(folder, uids)}  # BODY.PEEK: nothing is marked read
    finally:
        mailbox.close()
    return [(f"{folder} UID {uid}", found.get(uid), f"there is no message with UID {uid} in {folder}")
            for uid in uids]


def _existing_ledger(settings: config.Settings) -> Ledger | None:
    """The state database, when a pass has made one (explain and pending only read it; they never create it)."""
    path = settings.path(settings.state.database)
    return Ledger(path) if path.exists() else None


def cmd_pending(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, need_account=False)
    entries = []
    for account in _chosen_accounts(settings, args.account):
        ledger = _existing_ledger(account)
        if ledger is not None:
            folders = account.folders.values
            entries += answers.pending(ledger, account.account.name, {folders["accept"], folders["declined"]})
            ledger.close()
    print(json.dumps(entries, indent=2, ensure_ascii=False) if args.json else answers.render_pending(entries))
    return 0


def explain_record(source: str, inv: Invitation, verdict: Verdict, chain: Chain, composer: Composer | None) -> dict:
    reply = None
    if verdict.template and composer is not None:
        try:
            draft = composer.compose(inv, verdict)
            reply = {"to": draft.to, "subject": draft.subject, "body": draft.body}
        except TemplateError as exc:
            reply = {"error": str(exc)}
    person = inv.inviter
    authenticity = chain.authenticity(inv)
    record = {
        "source": source, "kind": inv.kind.value, "network": inv.network,
        # true only for mail whose signature was checked: unverified mail is not called authentic
        "authentic": {"verified": True, "failed": False}.get(authenticity), "authenticity": authenticity,
        "inviter": {"name": person.name, "headline": person.headline, "location": person.location,
                    "email": person.email, "profile_url": person.profile_url},
        "note": inv.note, "mutual_connections": inv.mutual_connections, "language": inv.language,
        "doubts": list(inv.doubts),
        "decision": verdict.decision.value, "template": verdict.template, "reasons": list(verdict.reasons),
        "quote": verdict.quote, "confidence": verdict.confidence, "facets": list(verdict.facets),
        "rules": [{"rule": r.rule, "hit": r.hit, "reason": r.reason} for r in verdict.results],
        "reply": reply,
    }
    if inv.error:
        record["parse_error"] = inv.error
    return record


_AUTHENTICITY = {"verified": "verified (the network's signature checked by your mail server)",
                 "unverified": "unverified (no trusted Authentication-Results header checked a signature)",
                 "failed": "FAILED the authenticity checks"}


def explain_text(record: dict) -> str:
    person = record["inviter"]
    lines = [f"== {record['source']}",
             f"   {record['kind']} on {record['network'] or 'no network'}"
             + ("" if record["authenticity"] is None else f", {_AUTHENTICITY[record['authenticity']]}")]
    if person["name"]:
        details = ", ".join(x for x in (person["headline"], person["location"], person["email"]) if x)
        lines.append(f"   from {person['name']}" + (f" ({details})" if details else ""))
    for doubt in record["doubts"]:
        lines.append(f"   doubt: {doubt}")
    if record["note"]:
        note = " ".join(record["note"].split())
        lines.append(f"   note: {note[:200]}{'…' if len(note) > 200 else ''}")
    lines.append(f"   decision: {record['decision']}" + (f", reply with {record['template']}" if record["template"]
                                                            else ""))
    for rule in record["rules"]:
        lines.append(f"     {'HIT ' if rule['hit'] else 'miss'} {rule['rule']:<21} {rule['reason']}")
    if record["reply"] and "subject" in record["reply"]:
        lines.append(f"   reply to {record['reply']['to']}: {record['reply']['subject']}")
    return _escaped("\n".join(lines))


_TERMINAL_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f{INVISIBLE.pattern[1:-1]}]")


def _escaped(text: str) -> str:
    """Text a terminal shows as it is: control characters but tab and line feed (an escape sequence in a note could
    clear the screen or retitle the window), bidi controls and invisible characters written as \\x1b / \\u202e."""
    return _TERMINAL_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _width(text: str) -> int:
    """Columns a string takes in a terminal: 2 for a CJK character or an emoji, 0 for a combining mark."""
    return sum(max(0, wcwidth(ch)) for ch in text)


def _cut(text: str, columns: int) -> str:
    """At most `columns` wide; a longer text ends in "…" (which says something was cut)."""
    if _width(text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:
        used += max(0, wcwidth(ch))
        if used > columns - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


def print_table(rows: list[tuple[str, ...]], out=None) -> None:
    """A header row and the rows under it, each column as wide as its widest cell on the screen."""
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell + " " * (widths[j] - _width(cell)) for j, cell in enumerate(row)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def print_report(report: PassReport, out=None) -> None:
    out = out or sys.stdout
    if report.handled:
        print_table([("uid", "inviter", "network", "decision", "template", "folder")] + [
            (h.uid, _cut(_escaped(h.inviter), 28), h.network, h.decision, h.template, h.folder)
            for h in report.handled], out)
        shown = len(report.handled)
        if sum(report.counts.values()) > shown:
            print(f"… and {sum(report.counts.values()) - shown:,} more (the summary below counts them all)", file=out)
        if report.dry_run:
            print("\nWhat would be done:", file=out)
            for h in report.handled:
                print(_escaped(f"  {h.uid}: {h.action}  [{h.reason}]"), file=out)
        print(file=out)
    print(report.summary(), file=out)


def cmd_demo(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="inboxbot-demo-"))
    try:
        with as_file(files("inboxbot.demo")) as demo:
            shutil.copytree(Path(demo) / "mailbox", work / "Maildir")
            for sub in ("cur", "new", "tmp"):  # packaging drops empty folders
                (work / "Maildir" / sub).mkdir(exist_ok=True)
            for extra in ("contacts.vcf", "answer.eml"):
                shutil.copy(Path(demo) / extra, work / extra)
            text = (Path(demo) / "config.toml").read_text(encoding="utf-8")
        (work / "config.toml").write_text(text, encoding="utf-8")
        settings = load_settings(str(work / "config.toml"))
        chain = build_chain(settings)
        composer = make_composer(settings)
        print(f"Screening the sample mailbox in {work / 'Maildir'} as {settings.owner.name}…\n")
        report = run_one_pass(settings.accounts[0], chain, composer)
        print_report(report)
        drafts = sorted((work / "Maildir" / ".Drafts" / "cur").iterdir())
        print(f"\n{len(drafts)} drafts are waiting in the Drafts folder. Two of them:\n")
        for path in drafts[:2]:
            print("-" * 72)
            print(_show_draft(path.read_bytes()))
        print("-" * 72)
        _demo_answer(work, settings, chain, composer)
        print("\nNext: copy config.example.toml, point it at your mailbox, and try "
              "`inboxbot once --dry-run --config FILE`.")
        if args.keep:
            print(f"The demo folder is kept: {work}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _demo_answer(work: Path, settings: config.Settings, chain: Chain, composer: Composer | None) -> None:
    """The demo's second act: an inviter answers the question, and the answer lands beside the invitation."""
    from inboxbot.status import account_status
    (work / "answer.eml").replace(work / "Maildir" / "new" / "1700000014.demo-answer.inboxbot")
    print("\nA few days later, Olivia Brandt answers the question in a LinkedIn message. The next pass:\n")
    print_report(run_one_pass(settings.accounts[0], chain, composer))
    status = account_status(settings, settings.accounts[0])
    for answer in status["answers"]:
        print(f"\n{answer['line']}\n(filed beside the invitation in {answer['folder']}, flagged; "
              f"{status['pending']} other invitation(s) still wait for an answer: `inboxbot pending`)")


def _show_draft(raw: bytes) -> str:
    import email
    from email.policy import default
    msg = email.message_from_bytes(raw, policy=default)
    head = "\n".join(f"{h}: {msg[h]}" for h in ("To", "Subject") if msg[h])
    return head + "\n\n" + msg.get_content().strip()
