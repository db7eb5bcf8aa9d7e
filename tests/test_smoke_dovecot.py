from tests.conftest import corpus_message


def test_dovecot_accepts_login_and_append(dovecot, imap_user):
    c = dovecot.client(imap_user)
    c.append("INBOX", corpus_message("027"))
    c.select_folder("INBOX")
    assert len(c.search(["ALL"])) == 1
