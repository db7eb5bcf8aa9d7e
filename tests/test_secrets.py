"""Secrets stay secret (issue 18 item 10): the OAuth2 token endpoint's error body, a plain-http token URL, a
password_command's arguments, and a config others can change."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from inboxbot import config
from inboxbot.cli import main
from inboxbot.errors import ConfigError, CredentialError
from tests.conftest import corpus_message
from tests.test_imap_once import write_config
from tests.tokenserver import TokenEndpoint, serving

REFRESH, CLIENT_SECRET = "refresh-S3CRET-tok", "client-S3CRET"


class _EchoingEndpoint(TokenEndpoint):
    """A token endpoint that refuses, echoing the request (as some do, in error_description)."""

    def answer(self, form: str) -> tuple[int, dict]:
        return 400, {"error": "invalid_grant", "error_description": f"bad request: {form}"}


@pytest.fixture
def echoing_endpoint():
    with serving(_EchoingEndpoint) as url:
        yield url


def test_the_token_endpoints_error_body_is_never_repeated(dovecot, imap_user, tmp_path, monkeypatch, capsys,
                                                          echoing_endpoint):
    monkeypatch.setenv("INBOXBOT_PASSWORD", REFRESH)
    monkeypatch.setenv("INBOXBOT_OAUTH2_CLIENT_SECRET", CLIENT_SECRET)
    client = dovecot.client(imap_user)
    client.append("INBOX", corpus_message("027"))
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace(
        "[owner]", f'auth = "oauth2"\noauth2_token_url = "{echoing_endpoint}"\noauth2_client_id = "inboxbot-test"\n'
                   "[owner]"))
    outputs = []
    for args in (["once"], ["--debug", "--log-format", "json", "once"], ["status", "--json"], ["status"]):
        main([*args, "--config", str(cfg)])
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
    assert "HTTP 400" in outputs[0] and "invalid_grant" in outputs[0]  # what is safe to say is said
    ledger = (tmp_path / "state.sqlite3").read_bytes()
    for text in outputs:
        assert REFRESH not in text and CLIENT_SECRET not in text and "bad request" not in text
    assert REFRESH.encode() not in ledger and CLIENT_SECRET.encode() not in ledger
    client.logout()


def _oauth_config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[account]\nhost = "imap.example.com"\nusername = "u"\nauth = "oauth2"\n'
                   f'oauth2_client_id = "x"\noauth2_token_url = "{url}"\n[replies]\nmode = "off"\n')
    os.chmod(cfg, 0o600)
    return cfg


def test_a_plain_http_token_url_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"account\.oauth2_token_url"):
        config.load(_oauth_config(tmp_path, "http://login.example.com/token"))
    config.load(_oauth_config(tmp_path, "https://login.example.com/token"))
    config.load(_oauth_config(tmp_path, "http://127.0.0.1:8080/token"))  # a test server on loopback


def test_a_password_command_that_fails_never_shows_its_arguments(tmp_path, monkeypatch):
    from inboxbot import credentials
    monkeypatch.delenv("INBOXBOT_PASSWORD", raising=False)
    monkeypatch.setattr(credentials, "COMMAND_TIMEOUT", 1)
    cases = {f"{sys.executable} -c 'import time; time.sleep(5)' --token=S3CRET-ARG": "timed out",
             "/nonexistent/pass show --key=S3CRET-ARG": "could not be run",
             f"{sys.executable} -c 'raise SystemExit(3)' S3CRET-ARG": "status 3"}
    for command, expected in cases.items():
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[account]\nhost = "127.0.0.1"\nusername = "u"\npassword_command = "{command}"\n'
                       '[replies]\nmode = "off"\n')
        os.chmod(cfg, 0o600)
        with pytest.raises(CredentialError) as caught:
            credentials.get_password(config.load(cfg))
        message = str(caught.value) + str(getattr(caught.value, "hint", ""))
        assert expected in message and "S3CRET-ARG" not in message and "sleep" not in message


@pytest.mark.parametrize("mode, warned", [(0o666, True), (0o620, True), (0o602, True), (0o644, False),
                                          (0o600, False)])
def test_a_config_others_can_change_gets_a_warning(tmp_path, caplog, mode, warned):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[account]\nhost = "127.0.0.1"\nusername = "u"\n[replies]\nmode = "off"\n')
    os.chmod(cfg, mode)
    config.load(cfg)
    assert ("can be changed by other users" in caplog.text) is warned
