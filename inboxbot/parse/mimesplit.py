"""The MIME splitter: the tree the standard library's feed parser builds from well-formed mail, built by splitting
at the blank lines and the MIME boundaries (a third of the cost of reading a notification). It declines (None)
whatever is unusual, which then goes to the feed parser: the result is never different, only faster. Its contract
test: tests/test_parse_robustness.py, "the fast MIME split gives the feed parser's tree, or declines"."""
from __future__ import annotations

import re
from email.message import Message


FAST_SPLIT_MAX = 4_000_000  # bigger messages go to the feed parser (and its limits) unchanged
# patterns that start with a literal LF: the regex engine scans for it quickly (an optional CR first makes it crawl)
_HEADER_BLOCK_END = re.compile(r"\n\r?\n")
_FIELD_BREAK = re.compile(r"\n(?![ \t])")
_FIELD_START = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_NOT_A_FIELD = re.compile(r"\n(?![ \t]|[\x21-\x39\x3b-\x7e]+:)")  # a line that starts no field nor continues one
_STRAY_CR = re.compile(r"\r(?!\n)")  # a line end to the feed parser, not to these patterns


def _fields(block: str) -> Message | None:
    """The Message of a header block without its final line end, or None if it is not plain."""
    if not _FIELD_START.match(block) or _NOT_A_FIELD.search(block) or _STRAY_CR.search(block):
        return None
    msg = Message()
    for field_text in _FIELD_BREAK.split(block):
        name, _, value = field_text.partition(":")
        msg.set_raw(name, value.lstrip(" \t").removesuffix("\r"))
    return msg


def split_mime(raw: bytes) -> Message | None:
    """The tree `email.message_from_bytes(raw, policy=compat32)` builds from well-formed mail, built by splitting
    at the blank lines and the MIME boundaries instead of feeding every line through the feed parser (a third
    of the cost of reading a notification). None for anything unusual — a header defect, a missing or doubled
    boundary, stray CRs, attached messages, deep nesting — which then goes to the feed parser: the result is never
    different, only faster."""
    text = raw.decode("ascii", "surrogateescape")
    return None if _STRAY_CR.search(text) else _split_part(text, 0)


def _split_part(text: str, depth: int) -> Message | None:
    end = _HEADER_BLOCK_END.search(text)
    if depth > 8 or end is None or end.start() == 0:
        return None
    msg = _fields(text[:end.start()].removesuffix("\r"))
    if msg is None:
        return None
    body = text[end.end():]
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None  # an attached message is parsed further by the feed parser
    if maintype != "multipart":
        msg.set_payload(body)
        return msg
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_subtype() == "digest":
        return None  # a digest's parts default to attached messages, which the feed parser reads further
    # searched for after a LF (in the body with one put in front, hence the offsets of one): a literal start is
    # found quickly, a "^" in multi-line mode is tried at every position
    separator = re.compile(r"\n--" + re.escape(boundary) + r"(--)?[ \t]*\r?$", re.M)
    marks = list(separator.finditer("\n" + body))
    if len(marks) < 2 or not marks[-1].group(1) or any(m.group(1) for m in marks[:-1]):
        return None  # no closing boundary, or one before the end: the feed parser knows what to make of it
    parts = []
    for opening, closing in zip(marks, marks[1:]):
        part = _without_line_end(body[opening.end():closing.start()])  # the match ends before the LF
        part = _split_part(part, depth + 1) if part is not None else None
        if part is None:
            return None  # an empty part (two boundary lines in a row) or an unusual one
        parts.append(part)
    preamble = body[:marks[0].start()]
    stripped = _without_line_end(preamble)
    msg.preamble = (preamble if stripped is None else stripped) if preamble else None
    after = body[marks[-1].end() - 1:]
    # a nested part's last line end was cut off above (it belongs to the enclosing boundary); nothing at all
    # after its closing boundary is no epilogue (None), as the feed parser has it
    msg.epilogue = after.removeprefix("\r\n" if after.startswith("\r\n") else "\n") if after or depth == 0 else None
    msg.set_payload(parts)
    return msg


def _without_line_end(text: str) -> str | None:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else None
