"""The error tree. Every error a user can see is one sentence plus a hint for what to do next."""
from __future__ import annotations


class InboxbotError(Exception):
    """Base class: `str(err)` is the sentence, `hint` what to do about it."""

    hint: str = ""
    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(InboxbotError):
    """One or more problems in the config file, each with its key path."""

    hint = "Fix the keys named above; `inboxbot check-config --config FILE` re-checks the whole file."

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{key}: {problem}" if key else problem for key, problem in problems]
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the configuration{where}:"
        super().__init__(head + "\n  " + "\n  ".join(lines))


class CredentialError(InboxbotError):
    hint = "Store the password with `inboxbot set-password --config FILE`, or set INBOXBOT_PASSWORD."


class MailboxError(InboxbotError):
    hint = "Check the [account] settings and that the server is reachable; rerun with --debug for details."


class AuthenticationFailed(MailboxError):
    hint = "Check account.username and the stored password (`inboxbot set-password --config FILE`)."


class ServerBusy(MailboxError):
    """The server refused the login for a reason that passes (RFC 5530 [LIMIT], [UNAVAILABLE], [INUSE])."""

    hint = ("The server limits connections per user or is busy; inboxbot tries again shortly. If this keeps "
            "happening, close other mail clients or raise the server's connection limit.")


class TemplateError(InboxbotError):
    hint = "Fix the template named above, or remove it from replies.templates to use the built-in one."


class StateError(InboxbotError):
    hint = "Check state.database; move a damaged file aside to start a fresh ledger."
