"""The plain FETCH reader: what it reads is what imapclient's parser reads; what it does not know, it leaves to it."""
from hypothesis import given, settings, strategies as st
from imapclient.response_parser import parse_fetch_response

from inboxbot.mail.imap import _NOTHING, ImapMailbox, plain_fetch_items
from tests.dovecot import PASSWORD

KEY = b"BODY[HEADER]"


def test_the_plain_shape_flags_before_or_after_the_literal():
    data = [(b"1 (UID 7 FLAGS (\\Seen $Screened) BODY[HEADER] {5}", b"From:"), b")",
            (b"2 (UID 9 BODY[HEADER] {3}", b"a\r\n"), b" FLAGS ())",
            (b"3 (BODY[HEADER] {2}", b"xy"), b" UID 12)"]
    assert plain_fetch_items(data, KEY) == {7: (b"From:", (b"\\Seen", b"$Screened")), 9: (b"a\r\n", ()),
                                            12: (b"xy", ())}


def test_a_nil_section_and_flag_updates_for_the_same_or_another_message():
    data = [b"4 (FLAGS (\\Deleted) UID 20)",  # unsolicited, before the body of the same message
            (b"5 (UID 21 FLAGS () BODY[HEADER] {1}", b"x"), b")",
            b"6 (UID 22 FLAGS (\\Seen) BODY[HEADER] NIL)",
            b"7 (UID 23 FLAGS (\\Seen))",  # an update for a message not asked for
            b"8 (FLAGS (\\Seen))",  # no UID: not about a UID asked for
            b"5 (UID 21 FLAGS (\\Flagged))"]  # and an update after it
    items = plain_fetch_items(data + [(b"9 (UID 20 FLAGS (\\Deleted) BODY[HEADER] {1}", b"y"), b")"], KEY)
    assert items == {20: (b"y", (b"\\Deleted",)), 21: (b"x", (b"\\Flagged",)), 22: (None, (b"\\Seen",)),
                     23: (_NOTHING, (b"\\Seen",))}


def test_other_shapes_are_left_to_imapclient():
    assert plain_fetch_items([(b"1 (UID 7 BODY[] {1}", b"x"), b")"], KEY) is None  # another section
    assert plain_fetch_items([(b"1 (UID 7 BODY[HEADER] {1}", b"x"), (b" RFC822.SIZE {1}", b"9"), b")"], KEY) is None
    assert plain_fetch_items([b'1 (UID 7 BODY[HEADER] "")'], KEY) is None  # a quoted string, not a literal
    assert plain_fetch_items([None], KEY) is None


_FLAG = st.sampled_from([b"\\Seen", b"\\Flagged", b"\\Draft", b"$InboxbotScreened", b"Junk"])
_RESPONSE = st.tuples(st.integers(1, 60), st.lists(_FLAG, max_size=3, unique=True),
                      st.one_of(st.none(), st.binary(max_size=40), st.just(b"UID 99 FLAGS (\\Seen) {3}\r\n)")),
                      st.booleans(), st.booleans())


def _imaplib_data(responses) -> list:
    """What imaplib hands over for these FETCH responses: a literal splits a response into (head, literal), rest."""
    data = []
    for seq, (uid, flags, body, flags_first, with_body) in enumerate(responses, 1):
        flag_item = b"FLAGS (" + b" ".join(flags) + b")"
        head = b"%d (UID %d" % (seq, uid) + (b" " + flag_item if flags_first or not with_body else b"")
        tail = (b" " + flag_item if not flags_first else b"") + b")"
        if not with_body:
            data.append(head + b")")
        elif body is None:
            data.append(head + b" BODY[HEADER] NIL" + tail)
        else:
            data += [(head + b" BODY[HEADER] {%d}" % len(body), body), tail]
    return data


@settings(max_examples=300, deadline=None)
@given(st.lists(_RESPONSE, max_size=8))
def test_the_plain_reader_reads_what_imapclient_reads(responses):
    data = _imaplib_data(responses)
    ours = plain_fetch_items(data, KEY)
    assert ours is not None
    theirs = parse_fetch_response(data, True, True) if data else {}
    assert {uid: item for uid, item in ours.items() if item[0] is not _NOTHING} == \
        {uid: (item[KEY], tuple(item.get(b"FLAGS", ()))) for uid, item in theirs.items() if KEY in item}


def test_a_mailbox_reads_bodies_and_flags_as_the_server_has_them(dovecot, imap_user):
    client = dovecot.client(imap_user)
    bodies = [b"Subject: %d\r\n\r\nline {5}\r\n) UID 3 FLAGS (\\Seen)\r\n" % i for i in range(5)]
    for i, body in enumerate(bodies):
        client.append("INBOX", body, flags=[(), ("\\Seen",), ("\\Flagged", "$InboxbotScreened")][i % 3])
    box = ImapMailbox("127.0.0.1", dovecot.port, "none", imap_user, PASSWORD)
    box.open()
    try:
        [batch] = list(box.fetch_new("INBOX", 0, 10))
        headers = box.fetch_new("INBOX", 0, 2, section="HEADER")
        assert [m.raw for m in batch] == bodies
        assert [set(m.flags) - {"\\Recent"} for m in batch] == \
            [set(), {"\\Seen"}, {"\\Flagged", "$InboxbotScreened"}, set(), {"\\Seen"}]
        assert [m.raw for group in headers for m in group] == [b.split(b"\r\n\r\n")[0] + b"\r\n\r\n" for b in bodies]
        assert [m.ref.uid for m in box.fetch("INBOX", ["2", "4", "99"])] == ["2", "4"]
    finally:
        box.close()
