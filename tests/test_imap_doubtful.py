"""`inboxbot once` against a real Dovecot, for the parser's doubts and for what a claim is: a doubtful result goes to
review with no draft, a forwarded invitation stays in the inbox, a forgery dressed only in LinkedIn's layout is
quarantined."""
from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

from inboxbot.cli import main
from tests.conftest import PASSWORD, folder_messages
from tests.test_imap_once import write_config

CASES = Path(__file__).parent / "parse_cases" / "mail"


def case(prefix: str) -> bytes:
    (path,) = CASES.glob(f"{prefix}-*.eml")
    return path.read_bytes()


def subjects(folder: dict) -> list[str]:
    return sorted(email.message_from_bytes(m["raw"], policy=default)["Subject"] for m in folder.values())


def test_doubtful_to_review_without_a_draft_forward_left_alone_layout_forgery_quarantined(
        dovecot, imap_user, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INBOXBOT_PASSWORD", PASSWORD)
    client = dovecot.client(imap_user)
    # 024: a layout none of ours (doubtful); 002: a collector's reminder (a draft, for contrast);
    # 025: a colleague forwarding an invitation; 026: a foreign sender in LinkedIn's layout
    for prefix in ("024", "002", "025", "026"):
        client.append("INBOX", case(prefix))
    # a chain written before the doubtful rule existed: the rule is still there
    cfg = write_config(tmp_path, dovecot, imap_user)
    cfg.write_text(cfg.read_text().replace(
        "[policy]\n", '[policy]\nchain = ["forged", "not-an-invitation", "blocked", "known-contact", "collector", '
                      '"stranger"]\n'))
    try:
        assert main(["once", "--dry-run", "--config", str(cfg)]) == 0
        # what would be done, and why: the doubtful one goes to review because its name reads like a sentence
        planned = [ln for ln in capsys.readouterr().out.splitlines() if "[doubtful:" in ln]
        assert len(planned) == 1 and "move to Invitations/Screening" in planned[0] and "draft" not in planned[0]
        assert "the name reads like a sentence" in planned[0]
        assert main(["once", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "4 new · 2 ask · 1 quarantine · 1 ignore" in out

        assert subjects(folder_messages(client, "INBOX")) == ["Fwd: Invitation to connect on LinkedIn"]
        assert subjects(folder_messages(client, "Invitations/Suspicious")) == ["Victor Lanz wants to connect"]
        assert subjects(folder_messages(client, "Invitations/Screening")) == [
            "Marta Kowalczyk's invitation is waiting for your response", "Olga Rossi would like to connect"]

        drafts = [email.message_from_bytes(d["raw"], policy=default)
                  for d in folder_messages(client, "Drafts").values()]
        assert len(drafts) == 1  # the collector's only: nothing is built on the doubtful one
        assert "Marta" in drafts[0].get_body(("plain",)).get_content()
    finally:
        client.logout()
