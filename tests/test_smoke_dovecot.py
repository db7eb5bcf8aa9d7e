from tests.conftest import corpus_message


def test_dovecot_accepts_login_and_append(dovecot, imap_user):
    c = dovecot.client(imap_user)
    c.append("INBOX", corpus_message("027"))
    c.select_folder("INBOX")
    assert len(c.search(["ALL"])) == 1


def _fetch_one(dovecot, user: str) -> bytes:
    from inboxbot.mail.imap import ImapMailbox
    from tests.dovecot import PASSWORD
    box = ImapMailbox("127.0.0.1", dovecot.port, "none", user, PASSWORD)
    box.open()
    try:
        [[message]] = list(box.fetch_new("INBOX", 0, 10))
        return message.raw.replace(b"\r\n", b"\n")  # as stored, the server gives CRLF
    finally:
        box.close()


def test_the_protocol_trace_is_made_only_for_a_listening_logger(dovecot, imap_user, caplog, monkeypatch):
    """imapclient has imaplib format every response line (whole messages) for its trace logger: with nobody
    listening, no line may be made."""
    import logging

    from imapclient.imapclient import IMAPlibLoggerAdapter
    raw = corpus_message("027").replace(b"\r\n", b"\n")
    dovecot.client(imap_user).append("INBOX", raw)
    made = []
    monkeypatch.setattr(IMAPlibLoggerAdapter, "debug", lambda self, msg, *args: made.append(msg))
    assert _fetch_one(dovecot, imap_user) == raw
    assert made == []
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    assert _fetch_one(dovecot, imap_user) == raw
    assert any("FETCH" in line for line in made)
