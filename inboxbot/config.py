"""The TOML config file -> validated, immutable Settings.

Every problem is collected with its key path and reported at once, before any network I/O (the way borgmatic
reports them). The schema below is the single source of truth for keys, types and defaults; config.example.toml
documents it for people.
"""
from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import platformdirs

from inboxbot.errors import ConfigError
from inboxbot.model import LANGUAGES, TEMPLATES, Decision

RULE_NAMES = ("forged", "not-an-invitation", "doubtful", "blocked", "known-contact", "recruiter", "sales-pitch", "collector",
              "claimed-acquaintance", "thin-connection", "stranger")
log = logging.getLogger("inboxbot")
DEFAULT_STATE = str(Path(platformdirs.user_state_dir("inboxbot")) / "inboxbot.sqlite3")


# --- validators: each takes a value and returns it converted, or raises ValueError with the problem --------------

Validator = Callable[[Any], Any]


def _str(choices: tuple[str, ...] | None = None, allow_empty: bool = True) -> Validator:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {_show(value)}")
        if choices and value not in choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        if not allow_empty and not value.strip():
            raise ValueError("must not be empty")
        return value
    return check


def _int(low: int, high: int) -> Validator:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer between {low} and {high}, got {_show(value)}")
        return value
    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_show(value)}")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of strings, got {_show(value)}")
    return tuple(value)


def _meeting_options(value: Any) -> dict[str, tuple[str, ...]]:
    """One list (the English options, as before) or a table of lists by language: {en = [...], de = [...]}."""
    if isinstance(value, list):
        return {"en": _str_list(value)} if value else {}
    if not isinstance(value, dict):
        raise ValueError(f'must be a list of strings or a table of them by language, like {{en = ["a coffee"]}}, '
                         f"got {_show(value)}")
    unknown = [k for k in value if k not in LANGUAGES]
    if unknown:
        raise ValueError(f"has no language {unknown[0]!r}; the languages are {', '.join(LANGUAGES)}")
    empty = [k for k, v in value.items() if isinstance(v, list) and not v]
    if empty:
        raise ValueError(f"{empty[0]} must list at least one option")
    return {k: _str_list(v) for k, v in value.items()}


def _duration(value: Any) -> int:
    """"90s", "5m", "1h" -> seconds. A bare number is refused: 300 could mean seconds or minutes."""
    m = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", value) if isinstance(value, str) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) or (m and not m.group(2)):
        raise ValueError(f'needs a unit: write 90s, 5m or 1h (as a string, "90s"), got {_show(value)}')
    if not m or int(m.group(1)) == 0:
        raise ValueError(f'must be a duration like "90s", "5m" or "1h", got {_show(value)}')
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def _folder_list(value: Any) -> tuple[str, ...]:
    """A folder, or several (a list): the folders screened, each with its own UID mark."""
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        if len(set(value)) < len(value):
            raise ValueError(f"names a folder twice: {_show(value)}")
        return tuple(value)
    if isinstance(value, str) and value.strip():
        return (value,)
    raise ValueError(f'must be a folder name or a list of them, like "INBOX" or ["INBOX", "Network"], got '
                     f"{_show(value)}")


def _with_sources(folders: dict[str, Any]) -> dict[str, Any]:
    """folders.inbox as given (one folder or several) -> `sources`, all of them, and `inbox`, the first: the one
    IDLE watches and the one a Maildir's top level is."""
    found = folders["inbox"] if isinstance(folders["inbox"], tuple) else (folders["inbox"],)
    return {**folders, "inbox": found[0], "sources": found}


def _time_range(value: Any) -> tuple[int, int] | None:
    """"22:00-07:00" -> (minute of day it starts, minute it ends); "" -> None."""
    if value == "":
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value) if isinstance(value, str) else None
    if not m or int(m.group(1)) > 23 or int(m.group(3)) > 23 or int(m.group(2)) > 59 or int(m.group(4)) > 59:
        raise ValueError(f'must be a time range like "22:00-07:00" (or ""), got {_show(value)}')
    return int(m.group(1)) * 60 + int(m.group(2)), int(m.group(3)) * 60 + int(m.group(4))


def in_range(minute: int, span: tuple[int, int] | None) -> bool:
    """Whether a minute of the day falls in a range that may wrap past midnight."""
    if span is None:
        return False
    start, end = span
    return start <= minute < end if start <= end else minute >= start or minute < end


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


SCHEMA: dict[str, dict[str, tuple[Validator, Any]]] = {
    "account": {
        "name": (_str(), ""),
        "type": (_str(("imap", "maildir")), "imap"),
        "host": (_str(), ""),
        "port": (_int(1, 65535), None),
        "security": (_str(("tls", "starttls", "none")), "tls"),
        "username": (_str(), ""),
        "password_env": (_str(), "INBOXBOT_PASSWORD"),
        "password_command": (_str(), ""),
        "allow_insecure": (_bool, False),
        "tls_ca_file": (_str(), ""),
        "timeout": (_duration, 60),
        "path": (_str(), "~/Mail"),
        "auth": (_str(("password", "oauth2")), "password"),
        "oauth2_provider": (_str(("google", "microsoft", "custom")), "custom"),
        "oauth2_token_url": (_str(), ""),
        "oauth2_client_id": (_str(), ""),
        "oauth2_client_secret_env": (_str(), "INBOXBOT_OAUTH2_CLIENT_SECRET"),
        "oauth2_mechanism": (_str(("XOAUTH2", "OAUTHBEARER")), "XOAUTH2"),
        "token_command": (_str(), ""),
        "copy_without_move": (_bool, False),
    },
    "folders": {
        "inbox": (_folder_list, "INBOX"),
        "accept": (_str(allow_empty=False), "Invitations/Accept"),
        "screening": (_str(allow_empty=False), "Invitations/Screening"),
        "declined": (_str(allow_empty=False), "Invitations/Declined"),
        "suspicious": (_str(allow_empty=False), "Invitations/Suspicious"),
        "drafts": (_str(), ""),
        "sent": (_str(), ""),
    },
    "state": {"database": (_str(allow_empty=False), DEFAULT_STATE)},
    "owner": {"name": (_str(), ""), "email": (_str(), ""), "language": (_str(LANGUAGES), "en"),
              "location": (_str(), "")},
    "policy": {
        "contacts": (_str_list, ()),
        "allow": (_str_list, ()),
        "block": (_str_list, ()),
        "accept_recruiters": (_bool, True),
        "collectors": (_str(("ask", "decline")), "ask"),
        "pitch_beats_recruiter": (_bool, False),
        "learn_from_sent": (_bool, True),
        "chain": (_str_list, RULE_NAMES),
    },
    "security": {"trusted_authserv_ids": (_str_list, ()), "require_dkim": (_bool, False)},
    "replies": {
        "mode": (_str(("draft", "send", "off")), "draft"),
        "templates": (_str(), "templates"),
        "once_per_inviter_days": (_int(0, 36500), 90),
        "max_per_day": (_int(0, 100000), 20),
        "max_per_pass": (_int(0, 100000), 10),
        "meeting_options": (_meeting_options, {}),  # by language; the built-in ones fill the gaps (compose.py)
        "max_age_days": (_int(0, 36500), 30),
        "give_up_after_days": (_int(0, 36500), 0),
    },
    "smtp": {
        "host": (_str(), ""),
        "port": (_int(1, 65535), None),
        "security": (_str(("tls", "starttls", "none")), "starttls"),
        "username": (_str(), ""),
        "password_env": (_str(), "INBOXBOT_SMTP_PASSWORD"),
        "password_command": (_str(), ""),
        "allow_insecure": (_bool, False),
        "timeout": (_duration, 60),
    },
    "schedule": {
        "interval": (_duration, 300),
        "batch_size": (_int(1, 5000), 200),
        "idle": (_bool, True),
        "quiet_hours": (_time_range, None),
        "backoff_max": (_duration, 300),
        "auth_backoff": (_duration, 1800),
    },
    "learning": {
        "from_accept": (_bool, True),
        "from_declined": (_bool, True),
        "from_drafts": (_bool, True),
    },
    "digest": {
        "every": (_str(("off", "daily", "weekly")), "off"),
        "folder": (_str(), ""),
    },
}
RULE_KEYS: dict[str, tuple[Validator, Any]] = {
    "enabled": (_bool, True),
    "decision": (_str(tuple(d.value for d in Decision)), None),
    "template": (_str(TEMPLATES + ("",)), None),
}


@dataclass(frozen=True)
class Section:
    """A validated section: attribute access to its keys."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class RuleOverride:
    enabled: bool = True
    decision: str | None = None
    template: str | None = None


@dataclass(frozen=True)
class Settings:
    source: Path | None
    account: Section
    folders: Section
    state: Section
    owner: Section
    policy: Section
    security: Section
    replies: Section
    smtp: Section
    schedule: Section
    learning: Section
    digest: Section
    rules: dict[str, RuleOverride] = field(default_factory=dict)
    account_views: tuple[tuple[Section, Section, Section], ...] = ()  # (account, folders, policy) per account

    @property
    def accounts(self) -> tuple["Settings", ...]:
        """One Settings per configured account, each with that account's folders and policy overrides."""
        return tuple(replace(self, account=a, folders=f, policy=p, account_views=((a, f, p),))
                     for a, f, p in self.account_views)

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def path(self, value: str) -> Path:
        """A path from the config, with ~ expanded and relative to the config file's folder."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else self.base_dir / p


def load(path: str | os.PathLike, *, need_account: bool = True) -> Settings:
    """Read and validate a config file; raises ConfigError listing every problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        error = ConfigError([("", f"the config file {source} does not exist")])
        init = "inboxbot init" + ("" if str(source) == default_path() else f" --config {source}")
        error.hint = (f"Write one with `{init}` (a commented config to fill in), or name yours with --config FILE "
                      "or $INBOXBOT_CONFIG.")
        raise error from None
    except OSError as exc:
        raise ConfigError([("", f"the config file {source} cannot be read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([("", f"the config file {source} is not UTF-8 text (byte {exc.start})")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("", f"not valid TOML: {_toml_problem(exc, text)}")], str(source)) from exc
    _warn_if_readable_by_others(source, data)
    return from_dict(data, source, need_account=need_account)


def default_path() -> str:
    """Where the config is when --config is not given: $INBOXBOT_CONFIG, else the XDG config folder."""
    return os.environ.get("INBOXBOT_CONFIG") or str(Path(platformdirs.user_config_dir("inboxbot")) / "config.toml")


def _toml_problem(exc: tomllib.TOMLDecodeError, text: str) -> str:
    """The parser's complaint with the line and column it found it at, and the line itself."""
    message = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if not found:  # "(at end of document)"
        return message
    line, column = int(found.group(1)), int(found.group(2))
    lines = text.splitlines()
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    return (f"line {line}, column {column}: {message[:found.start()].strip()}\n"
            f"    {shown}\n    {' ' * (column - 1)}^")


def _secret_commands(data: dict) -> list[str]:
    """The password_command/token_command values the parsed config sets (not the words in a comment, nor "")."""
    tables = [data.get("account"), data.get("smtp")] + (data["accounts"] if isinstance(data.get("accounts"), list)
                                                         else [])
    return [t[key] for t in tables if isinstance(t, dict) for key in ("password_command", "token_command")
            if isinstance(t.get(key), str) and t[key].strip()]


def _warn_if_readable_by_others(source: Path, data: dict) -> None:
    """A config others can change could make inboxbot answer, send or run commands as its owner; one that names a
    command producing secrets should not even be readable by them."""
    try:
        mode = source.stat().st_mode
    except OSError:
        return
    if mode & 0o022:
        log.warning("%s can be changed by other users, who could make inboxbot file, answer or send mail (or run "
                    "commands) as you; make it private: chmod 600 %s", source, source)
        return
    if not _secret_commands(data):  # set in the parsed config: not the word in a comment, nor an empty value
        return
    if mode & 0o077:
        log.warning("%s can be read or changed by other users and runs a password_command/token_command; "
                    "make it private: chmod 600 %s", source, source)


def from_dict(data: dict, source: Path | None = None, *, need_account: bool = True) -> Settings:
    problems: list[tuple[str, str]] = []
    sections: dict[str, dict[str, Any]] = {}
    base = source.parent if source else Path.cwd()
    for key in data:
        if key not in SCHEMA and key != "accounts":
            problems.append((key, "unknown section" + _did_you_mean(key, list(SCHEMA) + ["accounts"])))
    for name, spec in SCHEMA.items():
        raw = data.get(name, {}) if name != "account" else {}
        if not isinstance(raw, dict):
            problems.append((name, f"must be a table ([{name}]), got {_show(raw)}"))
            raw = {}
        values = _validate_table(name, raw, spec, problems, skip=("rules",) if name == "policy" else ())
        for key, (_, default) in spec.items():
            values.setdefault(key, default)
        sections[name] = values
    rules = _rules(data.get("policy", {}).get("rules", {}) if isinstance(data.get("policy"), dict) else {}, problems)
    _check_chain("policy", sections["policy"], problems)
    _check_contacts("policy", sections["policy"], problems, base)
    views = _accounts(data, sections, problems, base, need_account=need_account)
    _check_smtp(sections, problems)
    _check_templates(sections, problems, base)
    owner_email = sections["owner"]["email"]
    if sections["replies"]["mode"] != "off" and "@" not in owner_email:
        problems.append(("owner.email", "is required (drafts without a known inviter address go to you); "
                                        'set it, or set replies.mode = "off"'))
    elif owner_email and not re.fullmatch(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", owner_email):
        problems.append(("owner.email", f"must be a plain address like me@example.com, got {_show(owner_email)}"))
    if problems:
        raise ConfigError(problems, str(source) if source else None)
    sections["folders"] = _with_sources(sections["folders"])
    first = views[0] if views else (Section(_defaults("account")), Section(sections["folders"]),
                                    Section(sections["policy"]))
    sections.update(account=first[0].values, folders=first[1].values, policy=first[2].values)
    return Settings(source=source.resolve() if source else None, rules=rules,
                    account_views=tuple(views),
                    **{name: Section(values) for name, values in sections.items()})


def _defaults(section: str) -> dict[str, Any]:
    return {key: default for key, (_, default) in SCHEMA[section].items()}


def _accounts(data: dict, sections: dict[str, dict], problems: list[tuple[str, str]], base: Path, *,
              need_account: bool) -> list[tuple[Section, Section, Section]]:
    """[account] (one) or [[accounts]] (several), each with optional folders/policy overrides."""
    if "account" in data and "accounts" in data:
        problems.append(("accounts", "use either [account] or [[accounts]], not both"))
    if "accounts" in data:
        raw_list = data["accounts"]
        if not isinstance(raw_list, list) or not raw_list or not all(isinstance(a, dict) for a in raw_list):
            problems.append(("accounts", "must be one or more [[accounts]] tables"))
            return []
        tables = [(f"accounts[{i}]", raw) for i, raw in enumerate(raw_list)]
    else:
        raw = data.get("account", {})
        if not isinstance(raw, dict):
            problems.append(("account", f"must be a table ([account]), got {_show(raw)}"))
            raw = {}
        tables = [("account", raw)]
    views, names = [], set()
    for i, (path, raw) in enumerate(tables):
        values = _validate_table(path, raw, SCHEMA["account"], problems, skip=("folders", "policy"))
        values = {**_defaults("account"), **values}
        overrides = {}
        for sub in ("folders", "policy"):
            table = raw.get(sub, {})
            if not isinstance(table, dict):
                problems.append((f"{path}.{sub}", f"must be a table, got {_show(table)}"))
                table = {}
            overrides[sub] = _validate_table(f"{path}.{sub}", table, SCHEMA[sub], problems)
        folders = _with_sources({**sections["folders"], **overrides["folders"]})
        policy = {**sections["policy"], **overrides["policy"]}
        if "chain" in overrides["policy"]:
            _check_chain(f"{path}.policy", policy, problems)
        if "contacts" in overrides["policy"]:
            _check_contacts(f"{path}.policy", policy, problems, base)
        if not values["name"]:
            values["name"] = values["username"] or (values["path"] if values["type"] == "maildir" else f"account{i + 1}")
        if values["name"] in names:
            problems.append((f"{path}.name", f"another account is already named {values['name']!r}"))
        names.add(values["name"])
        _check_account(path, values, problems, need_account=need_account or "accounts" in data)
        if values["tls_ca_file"] and not _resolve(values["tls_ca_file"], base).is_file():
            problems.append((f"{path}.tls_ca_file", f"the file {_resolve(values['tls_ca_file'], base)} does not exist"))
        views.append((Section(values), Section(folders), Section(policy)))
    return views


def _check_chain(path: str, policy: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    for i, rule in enumerate(policy["chain"]):
        if rule not in RULE_NAMES:
            problems.append((f"{path}.chain[{i}]", f"unknown rule {rule!r}" + _did_you_mean(rule, RULE_NAMES)))


def _validate_table(path: str, raw: dict, spec: dict[str, tuple[Validator, Any]], problems: list[tuple[str, str]],
                    skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Each key of a table through its validator; unknown keys and bad values become problems."""
    values = {}
    for key, value in raw.items():
        if key in skip:
            continue
        if key not in spec:
            problems.append((f"{path}.{key}", "unknown key" + _did_you_mean(key, spec)))
            continue
        try:
            values[key] = spec[key][0](value)
        except ValueError as exc:
            problems.append((f"{path}.{key}", str(exc)))
    return values


def _resolve(value: str, base: Path) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _check_contacts(path: str, policy: dict[str, Any], problems: list[tuple[str, str]], base: Path) -> None:
    for i, name in enumerate(policy["contacts"]):
        file = _resolve(name, base)
        if not file.is_file():
            problems.append((f"{path}.contacts[{i}]", f"the file {file} does not exist"))
        elif file.suffix.lower() not in (".vcf", ".vcard", ".csv"):
            problems.append((f"{path}.contacts[{i}]", f"{file.name}: only .vcf and .csv files are understood"))


def _check_templates(sections: dict[str, dict], problems: list[tuple[str, str]], base: Path) -> None:
    templates = sections["replies"]["templates"]
    if templates != SCHEMA["replies"]["templates"][1] and not _resolve(templates, base).is_dir():
        problems.append(("replies.templates", f"the folder {_resolve(templates, base)} does not exist"))


def _rules(raw: Any, problems: list[tuple[str, str]]) -> dict[str, RuleOverride]:
    out = {}
    if not isinstance(raw, dict):
        problems.append(("policy.rules", f"must be a table of rule names, got {_show(raw)}"))
        return out
    for name, table in raw.items():
        path = f"policy.rules.{name}"
        if name not in RULE_NAMES:
            problems.append((path, "unknown rule" + _did_you_mean(name, RULE_NAMES)))
            continue
        if not isinstance(table, dict):
            problems.append((path, f"must be a table, got {_show(table)}"))
            continue
        values = _validate_table(path, table, RULE_KEYS, problems)
        out[name] = RuleOverride(**{k: (v or None) if k == "template" else v for k, v in values.items()})
    return out


def _check_smtp(sections: dict[str, dict], problems: list[tuple[str, str]]) -> None:
    smtp = sections["smtp"]
    if smtp["port"] is None:
        smtp["port"] = {"tls": 465, "starttls": 587, "none": 25}[smtp["security"]]
    if sections["replies"]["mode"] != "send":
        return
    if not smtp["host"]:
        problems.append(("smtp.host", 'is required when replies.mode is "send"'))
    elif smtp["security"] == "none" and not smtp["allow_insecure"] and not is_loopback(smtp["host"]):
        problems.append(("smtp.security", f'"none" sends mail and the password in clear text to {smtp["host"]}; '
                                          'use "tls" or "starttls" (or set smtp.allow_insecure = true)'))


def _check_account(path: str, account: dict[str, Any], problems: list[tuple[str, str]], *,
                   need_account: bool) -> None:
    if account["port"] is None:
        account["port"] = 993 if account["security"] == "tls" else 143
    if not need_account or account["type"] == "maildir":
        return
    for key in ("host", "username"):
        if not account[key]:
            problems.append((f"{path}.{key}", "is required for an IMAP account"))
    if account["security"] == "none" and account["host"] and not account["allow_insecure"] \
            and not is_loopback(account["host"]):
        problems.append((f"{path}.security", f'"none" sends the password in clear text to {account["host"]}; '
                                             'use "tls" or "starttls" (or set allow_insecure = true)'))
    if account["auth"] == "oauth2" and not account["token_command"]:
        if not account["oauth2_client_id"]:
            problems.append((f"{path}.oauth2_client_id", 'is required for auth = "oauth2" (or set token_command)'))
        if account["oauth2_provider"] == "custom" and not account["oauth2_token_url"]:
            problems.append((f"{path}.oauth2_token_url", 'is required with oauth2_provider = "custom"'))
    token_url = urlsplit(account["oauth2_token_url"]) if account["oauth2_token_url"] else None
    if token_url and token_url.scheme != "https" and not (token_url.scheme == "http"
                                                           and is_loopback(token_url.hostname or "")):
        problems.append((f"{path}.oauth2_token_url", "must be an https:// URL: the refresh token and client secret "
                                                     "are sent to it (http:// only for a test server on loopback)"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
