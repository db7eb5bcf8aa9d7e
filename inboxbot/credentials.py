"""Where the IMAP password comes from: the system keyring (service "inboxbot", user = account.username), else the
environment variable named by account.password_env (INBOXBOT_PASSWORD), else account.password_command.
Never prompts when unattended; never logs a secret. The only importer of keyring."""
from __future__ import annotations

import os
import shlex
import subprocess

import keyring
from keyring.errors import KeyringError

from inboxbot.config import Settings
from inboxbot.errors import CredentialError

SERVICE = "inboxbot"


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
        return _run_command(account.password_command, section)
    raise CredentialError(f"no password for {account.username}: nothing in the keyring, "
                          f"${account.password_env} is not set, and {section}.password_command is empty")


def _run_command(command: str, section: str) -> str:
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise CredentialError(f"{section}.password_command could not be run: {exc}") from None
    if done.returncode != 0:
        raise CredentialError(f"{section}.password_command exited with status {done.returncode}")
    password = done.stdout.rstrip("\n")
    if not password:
        raise CredentialError(f"{section}.password_command printed nothing")
    return password


def set_password(settings: Settings, password: str) -> None:
    try:
        keyring.set_password(SERVICE, settings.account.username, password)
    except (KeyringError, RuntimeError) as exc:
        raise CredentialError(f"the system keyring cannot store the password: {exc}",
                              hint="Use the INBOXBOT_PASSWORD environment variable or account.password_command "
                                   "instead.") from exc
