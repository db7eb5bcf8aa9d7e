"""Fixtures: a throwaway Dovecot on 127.0.0.1 (a free port, its own temp dir, a passwd-file user per test), the
copied corpus, and helpers to load messages and look at folders."""
from __future__ import annotations

import os
from pathlib import Path

import imapclient
import pytest

from tests.cyrus import CYRUS_HINT, CyrusMissing, start_cyrus
from tests.dovecot import (DOVECOT_HINT, PASSWORD, VARIANTS, Dovecot, DovecotMissing, free_port,  # noqa: F401
                           start_dovecot)

# Tests never touch the developer's real keyring: passwords come from INBOXBOT_PASSWORD.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"


def _start(d: Path, tls: bool = False) -> Dovecot:
    try:
        return start_dovecot(d, tls)
    except DovecotMissing:
        if os.environ.get("INBOXBOT_REQUIRE_DOVECOT"):  # CI installs it; a skip there would hide a broken setup
            pytest.fail(DOVECOT_HINT)
        pytest.skip(DOVECOT_HINT)


# The fixtures that start a real IMAP server (Dovecot or Cyrus): a test that uses one, directly or through another
# fixture, is marked `imap`, so `pytest -m "not imap"` runs the tier that needs no server.
SERVER_FIXTURES = frozenset({"dovecot", "own_dovecot", "tls_dovecot", "any_server", "imap_user"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.imap)


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory):
    server = _start(tmp_path_factory.mktemp("dovecot"))
    yield server
    server.stop()


@pytest.fixture
def own_dovecot(tmp_path_factory: pytest.TempPathFactory):
    """A Dovecot for one test, which may stop and restart it."""
    server = _start(tmp_path_factory.mktemp("own-dovecot"))
    yield server
    server.stop()


@pytest.fixture
def tls_dovecot(tmp_path_factory: pytest.TempPathFactory):
    """A Dovecot with an imaps listener whose certificate a test CA signed (its ca.pem is in the directory)."""
    server = _start(tmp_path_factory.mktemp("tls-dovecot"), tls=True)
    yield server
    server.stop()


# The IMAP servers people have: Dovecot configured as each (tests/dovecot.py VARIANTS), and a real Cyrus.
SERVERS = [*VARIANTS, "cyrus"]


@pytest.fixture(scope="session", params=SERVERS)
def any_server(request, tmp_path_factory: pytest.TempPathFactory):
    """One of SERVERS, started once for the session (skipped when it is not there, failed in CI)."""
    if request.param == "cyrus":
        try:
            server = start_cyrus(tmp_path_factory.mktemp("cyrus"))
        except CyrusMissing:
            if os.environ.get("INBOXBOT_REQUIRE_CYRUS"):
                pytest.fail(CYRUS_HINT)
            pytest.skip(CYRUS_HINT)
    else:
        try:
            server = start_dovecot(tmp_path_factory.mktemp(f"dovecot-{request.param}"), variant=request.param)
        except DovecotMissing:
            if os.environ.get("INBOXBOT_REQUIRE_DOVECOT"):
                pytest.fail(DOVECOT_HINT)
            pytest.skip(DOVECOT_HINT)
    yield server
    server.stop()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> str:
    return dovecot.add_user()


def corpus_message(name: str) -> bytes:
    """A corpus message by its number or file name prefix, e.g. '027'."""
    matches = sorted((CORPUS / "mail").glob(f"{name}*.eml"))
    assert matches, f"no corpus message {name}"
    return matches[0].read_bytes()


def maildir_config(tmp_path: Path, interval: str = "1h", extra: str = "") -> Path:
    """A config for a Maildir holding one collector invitation (corpus 027), answered at any age; `extra` is more
    TOML to add (whole sections)."""
    import mailbox
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(str(root), create=True)
    box.add(mailbox.MaildirMessage(corpus_message("027")))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[account]\ntype = "maildir"\npath = "{root}"\n[owner]\nname = "Robin Castellano"\n'
                   f'email = "robin.castellano@example.net"\n[replies]\nmax_age_days = 0\n'
                   f'[schedule]\ninterval = "{interval}"\n{extra}'
                   f'[state]\ndatabase = "{tmp_path / "state.sqlite3"}"\n')
    return cfg


def folder_messages(client: imapclient.IMAPClient, folder: str) -> dict[int, dict]:
    """UID -> {flags, raw} for every message of a folder (read without setting \\Seen)."""
    client.select_folder(folder, readonly=True)
    uids = client.search(["ALL"])
    if not uids:
        return {}
    data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
    return {uid: {"flags": {f.decode() if isinstance(f, bytes) else f for f in item[b"FLAGS"]},
                  "raw": item[b"BODY[]"]} for uid, item in data.items()}


# Fuzz tests explore new inputs on every developer run; in CI they replay a fixed set, so a landing never
# depends on luck (a failure found locally becomes a fixed example or a fix).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
