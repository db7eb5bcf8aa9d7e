"""Where the IMAP password comes from: the system keyring (service "inboxbot", user = account.username), else the
environment variable named by account.password_env (INBOXBOT_PASSWORD), else account.password_command.
Never prompts when unattended; never logs a secret. The only importer of keyring."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import keyring
from keyring.errors import KeyringError

from inboxbot.config import Settings
from inboxbot.errors import CredentialError

SERVICE = "inboxbot"
COMMAND_TIMEOUT = 60  # seconds a password_command / token_command may take


def get_password(settings: Settings, section: str = "account") -> str:
    """The password for the [account] (IMAP) or the [smtp] login."""
    account = getattr(settings, section)
    try:
        stored = keyring.get_password(SERVICE, account.username)
    except (KeyringError, RuntimeError):  # no usable keyring backend (headless server, container)
        stored = None
    if stored:
        return stored
    from_env = os.environ.get(account.password_env or "INBOXBOT_PASSWORD")
    if from_env:
        return from_env
    if account.password_command:
        return _run_command(account.password_command, f"{section}.password_command")
    raise CredentialError(f"no password for {account.username}: nothing in the keyring, "
                          f"${account.password_env} is not set, and {section}.password_command is empty")


def _run_command(command: str, key: str) -> str:
    """Run a command that prints a secret. What goes wrong is told by the program's name alone: its arguments
    may hold a secret too (a subprocess error would repeat the whole command line)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CredentialError(f"{key} is not a valid command line ({exc})") from None
    program = os.path.basename(argv[0]) if argv else "(empty)"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CredentialError(f"{key} ({program}) timed out after {COMMAND_TIMEOUT} s") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CredentialError(f"{key} ({program}) could not be run: {reason}") from None
    if done.returncode != 0:
        raise CredentialError(f"{key} ({program}) exited with status {done.returncode}")
    password = done.stdout.rstrip("\n")
    if not password:
        raise CredentialError(f"{key} printed nothing")
    return password


TOKEN_URLS = {"google": "https://oauth2.googleapis.com/token",
              "microsoft": "https://login.microsoftonline.com/common/oauth2/v2.0/token"}
_token_cache: dict[tuple[str, str], tuple[str, float]] = {}


def get_access_token(settings: Settings) -> str:
    """An OAuth2 access token for the [account]: from token_command, or exchanged for the refresh token (kept where a
    password would be: keyring, environment, password_command) at the provider's token endpoint. Cached until
    shortly before it expires."""
    account = settings.account
    if account.token_command:
        return _run_command(account.token_command, "account.token_command")
    url = account.oauth2_token_url or TOKEN_URLS.get(account.oauth2_provider, "")
    key = (url, account.username)
    cached = _token_cache.get(key)
    if cached and cached[1] > time.time() + 60:
        return cached[0]
    refresh_token = get_password(settings)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": account.oauth2_client_id}
    secret = os.environ.get(account.oauth2_client_secret_env or "")
    if secret:
        form["client_secret"] = secret
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=account.timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise CredentialError(f"the OAuth2 token endpoint {url} refused the refresh token (HTTP {exc.code}"
                              f"{_error_code(exc)})", hint="Get a new refresh token and store it with `inboxbot "
                                                           "set-password --config FILE`.") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CredentialError(f"the OAuth2 token endpoint {url} could not be reached: {exc}") from exc
    token = data.get("access_token") if isinstance(data, dict) else None
    if not token:
        raise CredentialError(f"the OAuth2 token endpoint {url} sent no access_token")
    _token_cache[key] = (token, time.time() + float(data.get("expires_in", 3600)))
    return token


_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _error_code(exc: urllib.error.HTTPError) -> str:
    """", error invalid_grant": the `error` field of an RFC 6749 error response, and nothing else of its body (an
    endpoint may echo the request, refresh token and client secret included, in error_description)."""
    try:
        data = json.loads(exc.read(65536).decode("utf-8"))
    except (OSError, ValueError):
        return ""
    code = data.get("error") if isinstance(data, dict) else None
    return f", error {code}" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def set_password(settings: Settings, password: str) -> None:
    try:
        keyring.set_password(SERVICE, settings.account.username, password)
    except (KeyringError, RuntimeError) as exc:
        raise CredentialError(f"the system keyring cannot store the password: {exc}",
                              hint="Use the INBOXBOT_PASSWORD environment variable or account.password_command "
                                   "instead.") from exc
