"""The parser never raises: mangled corpus messages, hostile structures and huge inputs all get an answer."""
from __future__ import annotations

import email
import re
from email.policy import compat32

from hypothesis import HealthCheck, given, settings, strategies as st

from inboxbot.model import Kind
from inboxbot.parse import claims_network, parse
from inboxbot.parse.base import search_folded
from inboxbot.parse.mime import Mail, decode_header_value
from inboxbot.parse.mimesplit import split_mime
from tests.conftest import CORPUS

SAMPLES = [p.read_bytes() for p in sorted((CORPUS / "mail").glob("*.eml"))]


@st.composite
def mangled(draw):
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 20))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    if draw(st.booleans()):
        head, _, body = bytes(raw).partition(b"\n\n")
        lines = head.split(b"\n")
        if lines:
            line = lines[draw(st.integers(0, len(lines) - 1))]
            lines.insert(draw(st.integers(0, len(lines))), line)  # a duplicated header
        raw = bytearray(b"\n".join(lines) + b"\n\n" + body)
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_corpus_messages_never_raise(raw):
    inv = parse(raw)
    assert inv.kind in Kind
    for value in (inv.inviter.name, inv.inviter.headline, inv.inviter.location):
        assert value is None or ("\r" not in value and "\n" not in value)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw):
    assert parse(raw).kind in Kind


def _multipart(parts: list[bytes], boundary: bytes = b"b") -> bytes:
    out = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return out + b"--" + boundary + b"--\r\n"


def test_ten_thousand_parts_and_deep_nesting():
    part = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    many = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + _multipart([part] * 10_000)
    assert parse(many).kind is Kind.OTHER
    nested = part
    for depth in range(300):
        b = f"n{depth}".encode()
        nested = b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n" + _multipart([nested], b)
    assert parse(b"From: a@example.com\r\n" + nested).kind is Kind.OTHER


def test_large_attachment_does_not_disturb_the_text():
    invitation = SAMPLES[2]
    head, _, _ = invitation.partition(b"\n\n")
    head = b"\n".join(l for l in head.split(b"\n") if not l.lower().startswith(b"content-type")
                      and not l.startswith((b" ", b"\t")) or not l)
    text = (b"Content-Type: text/plain; charset=utf-8\n\nHi Robin,\n\nI'd like to join your LinkedIn network.\n\n"
            b"Ada Example\nEngineer at Example\n\nView profile: https://www.linkedin.com/comm/in/ada\n")
    attachment = (b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
                  b"Content-Disposition: attachment; filename=big.bin\n\n" + b"QUFB" * (10 * 1024 * 1024 // 4))
    raw = head + b"\nContent-Type: multipart/mixed; boundary=zz\n\n" + _multipart([text, attachment], b"zz")
    inv = parse(raw)
    assert inv.error is None and inv.network == "linkedin" and inv.note is None and inv.note_is_default
    assert (inv.inviter.name, inv.inviter.headline) == ("Ada Example", "Engineer at Example")


def test_invalid_charset_and_encoded_word_injection():
    raw = (b"From: =?x-unknown?Q?Eve=0D=0ABcc=3A_x=40evil.example?= <invitations@linkedin.com>\n"
           b"Subject: I want to connect\nX-LinkedIn-Class: INVITE-MBR\n"
           b"Content-Type: text/plain; charset=x-does-not-exist\n\n"
           b"Eve Example\nHacker at Nowhere\n\nAccept: https://www.linkedin.com/comm/mynetwork/invite-accept/"
           b"invitationId/1/sharedKey/x/\n\nView profile: https://www.linkedin.com/comm/in/eve\n")
    inv = parse(raw)
    assert inv.kind is Kind.INVITATION and inv.inviter.name == "Eve Example"
    assert inv.inviter.profile_url == "https://www.linkedin.com/in/eve"


REAL = [p.read_bytes() for p in sorted((CORPUS.parent / "real_samples").glob("*.eml"))]


# --- the fast MIME split gives the feed parser's tree, or declines ------------------------------------------------

def _tree(msg):
    # the stored payload, not get_payload(): that decodes mangled bytes with the declared charset, and may raise
    if msg.is_multipart():
        return (list(msg.raw_items()), msg.preamble, msg.epilogue, tuple(_tree(p) for p in msg._payload))
    return (list(msg.raw_items()), msg._payload)


def _same_or_declined(raw: bytes) -> bool:
    fast = split_mime(raw)
    if fast is not None:
        assert _tree(fast) == _tree(email.message_from_bytes(raw, policy=compat32))
    return fast is not None


def test_the_fast_split_is_the_feed_parsers_tree_for_the_corpus_and_real_samples():
    taken = [_same_or_declined(raw) for raw in SAMPLES + REAL]
    assert sum(taken) >= 0.9 * len(taken)  # the fast path is the usual one, not a rarely used twin


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_the_fast_split_is_the_feed_parsers_tree_for_mangled_mail(raw):
    _same_or_declined(raw)


@st.composite
def multiparts(draw, depth=0):
    """Multipart structures with odd preambles, epilogues, whitespace after boundaries and either line ending."""
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    boundary = draw(st.sampled_from([b"b", b"=_x.1", b"----=_Part_0_1.2", b"a'(b)+_,-./:=?"]))
    text = st.sampled_from([b"", b"hello", b"--b", b"--bb", b"line" + b"\n" * 3 + b"x", b"=C3=A9t=C3=A9", b" ",
                            b"\n", eol + eol, b"\xe9t\xe9"])
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if depth < 2 and draw(st.booleans()):
            parts.append(draw(multiparts(depth + 1)))
        else:
            typed = draw(st.sampled_from([b"Content-Type: text/plain; charset=utf-8" + eol, b""]))
            parts.append(typed + b"Content-Transfer-Encoding: " + draw(st.sampled_from([b"7bit", b"quoted-printable"]))
                         + eol + eol + draw(text))
    quoted = b'"' + boundary + b'"' if draw(st.booleans()) else boundary
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"digest"]))
    out = b"Content-Type: multipart/" + subtype + b"; boundary=" + quoted
    out += eol + eol + draw(text) + (eol if draw(st.booleans()) else b"")
    for part in parts:
        out += b"--" + boundary + draw(st.sampled_from([b"", b" ", b"\t "])) + eol + part + eol
    out += b"--" + boundary + b"--" + draw(st.sampled_from([b"", eol, eol + b"epilogue" + eol, eol + eol]))
    return out


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(multiparts())
def test_the_fast_split_is_the_feed_parsers_tree_for_odd_structures(raw):
    _same_or_declined(b"From: a@example.com" + (b"\r\n" if b"\r\n" in raw else b"\n") + raw)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="LlIiNnKkEeDdıİ.com/-_?ſK", max_size=30))
def test_folded_search_matches_as_ignorecase_does(text):
    pattern = re.compile(r"linkedin\.com/(comm/)?(in/|profile/view\?)")
    assert search_folded(pattern, text) == bool(re.search(pattern.pattern, text, re.I))
    assert search_folded(pattern, "https://www.LinkedIn.com/IN/x")


# --- the header check in front of the full parse: it may let too much through, never too little -------------------

def _header_block(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\n\n"


def test_the_header_check_passes_every_message_that_claims_a_network_and_stops_the_rest():
    for raw in SAMPLES + REAL:
        # a subject that speaks of invitations, or headers that name a network, pass too: the body alone may claim
        # a network (its layout)
        hinted = re.search(rb"(?im)^subject:.*(connect|invit|friend|waiting)|linkedin|facebook|xing|twitter|meetup",
                           _header_block(raw))
        assert claims_network(_header_block(raw)) == (parse(raw).network is not None or bool(hinted))
    # a look-alike sender alone, with no network named anywhere, is a claim (a forgery to quarantine)
    assert claims_network(b"From: Security <security@linkedln-mail.net>\nSubject: Verify your account\n\n")
    assert claims_network(b"From: =?utf-8?q?Linked=49n?= <news@example.org>\nSubject: hello\n\n")
    assert not claims_network(b"From: Ann <ann@example.org>\nSubject: Lunch on Friday?\n\n")
    assert claims_network(b"From: Victor <victor@lanz.example>\nSubject: Victor wants to connect\n\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_the_header_check_never_stops_a_mangled_message_that_claims_a_network(raw):
    if parse(raw).network is not None:
        assert claims_network(_header_block(raw))


@given(st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=120))
def test_a_plain_header_value_decodes_as_the_rfc_2047_decoder_gives_it(text):
    """decode_header_value returns a value with no encoded word as is: what the full decoding would give."""
    import email.header
    unfolded = re.sub(r"\r?\n[ \t]+", " ", text)
    if "=?" not in unfolded:
        full = str(email.header.make_header(email.header.decode_header(unfolded)))
        assert decode_header_value(text) == full


def test_a_message_nested_too_deep_to_read_still_shows_its_headers():
    """The full parse gives up on a thousand nested multiparts; what the message claims is read from its header
    block alone, which never looks past the first blank line."""
    body = b"Content-Type: text/plain\n\nHi Robin, accept: https://linkedin.evil.example/accept\n"
    for level in range(1000, 0, -1):
        body = b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (level, level) + body + b"\n--b%d--\n" % level
    raw = b"From: Ann Eve <invitations@linkedin.com>\nMessage-ID: <deep.1@evil.example>\nMIME-Version: 1.0\n" + body
    inv = parse(raw)
    assert inv.kind is Kind.OTHER and inv.error and "RecursionError" in inv.error
    assert inv.evidence.claimed == "linkedin"
    assert [(name, value) for name, value in Mail.from_headers(raw).msg.items()][:2] == [
        ("From", "Ann Eve <invitations@linkedin.com>"), ("Message-ID", "<deep.1@evil.example>")]
