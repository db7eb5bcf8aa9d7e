"""The parser never raises: mangled corpus messages, hostile structures and huge inputs all get an answer."""
from __future__ import annotations

import email
import re
from email.policy import compat32

from hypothesis import HealthCheck, given, settings, strategies as st

from inboxbot.model import Kind
from inboxbot.parse import claims_network, parse
from inboxbot.parse.base import TRACKING_PARAMS, host_of, search_folded, strip_tracking
from inboxbot.parse.mime import Mail, _split_headers, decode_header_value, parse_address, split_mime
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


# --- the header fast path: the same fields as the feed parser, or the feed parser itself ----------------------------

REAL = [p.read_bytes() for p in sorted((CORPUS.parent / "real_samples").glob("*.eml"))]


def _feed_parser_fields(raw: bytes) -> list[tuple[str, str]]:
    return email.message_from_bytes(raw, policy=compat32).raw_items()


def test_header_blocks_split_as_the_feed_parser_splits_them():
    for raw in SAMPLES + REAL:
        head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\n\n"
        for block in (raw, head, head.replace(b"\n", b"\r\n"), head.rstrip(b"\n")):
            fast = _split_headers(block)
            assert fast is not None, "a plain header block must take the fast path"
            assert list(fast.raw_items()) == list(_feed_parser_fields(block))


_PIECES = st.sampled_from(["Subject", "X-LinkedIn-Class", "From", ":", " ", "\t", "a", "=?utf-8?q?=C3=A9?=", "\r\n",
                           "\n", "\r", "\n ", "\r\n\t", "From ", "\xe9", ";", "\n\n", "\x00", "\x0c"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_any_header_block_gives_the_feed_parsers_fields_or_goes_to_it(pieces):
    _same_fields("".join(pieces).encode("latin-1"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_messages_give_the_feed_parsers_fields(raw):
    _same_fields(raw)


def _same_fields(block: bytes) -> None:
    fast = _split_headers(block)
    if fast is not None:
        assert list(fast.raw_items()) == list(_feed_parser_fields(block))
    assert list(Mail.from_headers(block).msg.raw_items()) == list(_feed_parser_fields(block))


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


_ATOMS = st.text(st.sampled_from(list("abcXYZ019!#$%&'*+/=?^_`{|}~-.")), min_size=1, max_size=6)


@settings(max_examples=500)
@given(st.lists(_ATOMS, max_size=4), st.sampled_from([" ", "  ", "\t", ""]), st.booleans(),
       st.text(st.sampled_from(list("ab .,()<>@\"\\")), max_size=8), _ATOMS, _ATOMS, st.booleans())
def test_an_address_reads_as_parseaddr_reads_it(words, sep, quote, quoted, local, domain, bare):
    """The plain forms are read by one pattern; every form must give what email.utils.parseaddr gives."""
    import email.utils
    display = f'"{quoted}"' if quote else sep.join(words)
    text = f"{local}@{domain}.com" if bare else f"{display} <{local}@{domain}.com>"
    assert parse_address(text) == email.utils.parseaddr(text)


@settings(max_examples=500)
@given(st.sampled_from(["http", "HTTPS", "h+s", "9x", "", "mailto"]), st.sampled_from(["://", ":/", "//", ":"]),
       st.text(st.sampled_from(list("aB9.-:/?#@[]% \t\nxX_")), max_size=12),
       st.text(st.sampled_from(list("aB9.-:/?#@[]% \t\nxX_")), max_size=12))
def test_a_link_host_is_the_one_urlsplit_finds(scheme, separator, host, rest):
    from urllib.parse import urlsplit
    url = scheme + separator + host + rest
    try:
        want = (urlsplit(url).hostname or "").lower()
    except ValueError:
        want = ""
    assert host_of(url) == want


_QUERY_NAMES = st.sampled_from(["trk", "midToken", "authType", "utm_source", "e", "id", "ID", "trk%20", "t+k", "", "Trk", "x"])


@settings(max_examples=500)
@given(st.sampled_from(["http://", "https://", "HTTPS://", "http:/", ""]),
       st.text(st.sampled_from(list("aZ9.-:/@[]%# \t\\")), max_size=12),
       st.lists(st.tuples(_QUERY_NAMES, st.sampled_from(["", "=", "=1", "=%7E~", "=a b", "=x#y"])), max_size=4),
       st.sampled_from([frozenset(), frozenset({"id"}), frozenset({"trk"})]))
def test_a_link_loses_its_tracking_as_the_url_parser_would_have_it(start, rest, params, keep):
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
    url = start + rest + ("?" + "&".join(name + value for name, value in params) if params else "")
    try:
        parts = urlsplit(url)
        want = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(
            [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() in keep or k.lower() not in TRACKING_PARAMS]), ""))
    except ValueError:
        want = url
    assert strip_tracking(url, keep) == want
