"""check-config: every problem at once, each with its key path, before any network I/O."""
from __future__ import annotations

from pathlib import Path

import pytest

from inboxbot import config
from inboxbot.cli import main
from inboxbot.errors import ConfigError

ROOT = Path(__file__).parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_example_config_is_valid(capsys):
    assert main(["check-config", "--config", str(ROOT / "config.example.toml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_every_problem_is_reported_with_its_key_path(tmp_path, capsys):
    path = write(tmp_path, """
[account]
host = "imap.example.com"
port = "abc"
securty = "tls"
username = "me@example.com"
[folders]
accept = ""
[policy]
collectors = "maybe"
contacts = ["nope.vcf"]
chain = ["forged", "stranger", "colector"]
[policy.rules.recruiter]
decision = "hire"
[policy.rules.sales]
enabled = false
[replies]
max_per_day = -1
[owner]
email = "me@example.com"
[extra]
""")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    for expected in ('account.port: must be an integer between 1 and 65535, got "abc"',
                     "account.securty: unknown key (did you mean 'security'?)",
                     "folders.accept: must not be empty",
                     "policy.collectors: must be one of 'ask', 'decline', got 'maybe'",
                     "policy.contacts[0]: the file", "policy.chain[2]: unknown rule 'colector' (did you mean 'collector'?)",
                     "policy.rules.recruiter.decision: must be one of", "policy.rules.sales: unknown rule",
                     "replies.max_per_day: must be an integer between 0 and 100000, got -1",
                     "extra: unknown section"):
        assert expected in err, expected
    assert "10 problems" in err and "Traceback" not in err


def test_plaintext_to_a_remote_host_is_refused(tmp_path):
    path = write(tmp_path, '[account]\nhost = "imap.example.com"\nsecurity = "none"\nusername = "u"\n'
                           '[owner]\nemail = "me@example.com"\n')
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert err.value.problems[0][0] == "account.security"
    path.write_text('[account]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "u"\n[owner]\nemail = "me@x.org"\n')
    assert config.load(path).account.port == 143


def test_not_toml_is_one_problem(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[account\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_durations_and_defaults(tmp_path):
    s = config.load(write(tmp_path, '[account]\ntype = "maildir"\n[schedule]\ninterval = "2m"\n'
                                    '[replies]\nmode = "off"\n'))
    assert s.schedule.interval == 120 and s.folders.accept == "Invitations/Accept" and s.policy.collectors == "ask"
    with pytest.raises(ConfigError, match='schedule.interval: must be a duration like "90s"'):
        config.load(write(tmp_path, '[account]\ntype = "maildir"\n[schedule]\ninterval = "soon"\n'))


def test_quiet_hours(tmp_path):
    s = config.load(write(tmp_path, '[account]\ntype = "maildir"\n[replies]\nmode = "off"\n'
                                    '[schedule]\nquiet_hours = "22:00-07:30"\n'))
    span = s.schedule.quiet_hours
    assert span == (22 * 60, 7 * 60 + 30)
    assert config.in_range(23 * 60, span) and config.in_range(60, span) and not config.in_range(12 * 60, span)
    assert config.in_range(9 * 60, (8 * 60, 17 * 60)) and not config.in_range(18 * 60, (8 * 60, 17 * 60))
    with pytest.raises(ConfigError, match='schedule.quiet_hours: must be a time range like "22:00-07:00"'):
        config.load(write(tmp_path, '[account]\ntype = "maildir"\n[schedule]\nquiet_hours = "late"\n'))


def test_reply_languages_and_meeting_options(tmp_path):
    base = '[account]\ntype = "maildir"\n[owner]\nemail = "me@example.com"\n'
    s = config.load(write(tmp_path, base + 'language = "de"\nlocation = "Lisbon, Portugal"\n[replies]\n'
                          'meeting_options = {de = ["einen Tee"], fr = ["un thé"]}\n'))
    assert (s.owner.language, s.owner.location, s.replies.max_age_days) == ("de", "Lisbon, Portugal", 30)
    assert s.replies.meeting_options == {"de": ("einen Tee",), "fr": ("un thé",)}
    one_list = config.load(write(tmp_path, base + '[replies]\nmeeting_options = ["a tea", "a walk"]\n'))
    assert one_list.replies.meeting_options == {"en": ("a tea", "a walk")}  # the old form: English
    with pytest.raises(ConfigError) as bad:
        config.load(write(tmp_path, base + 'language = "sv"\n[replies]\nmeeting_options = {sv = ["en fika"]}\n'
                          "max_age_days = -1\n"))
    text = str(bad.value)
    assert "owner.language: must be one of 'en', 'de'" in text
    assert "replies.meeting_options: has no language 'sv'; the languages are en, de, es, fr, pt, it, nl, id" in text
    assert "replies.max_age_days: must be an integer between 0 and 36500, got -1" in text
