"""A careful, fast reader of Authentication-Results headers (RFC 8601).

    header  = authserv-id [ CFWS authres-version ] ( no-result / 1*( ";" resinfo ) )
    resinfo = method [ "/" version ] "=" result [ reason ] *( ptype "." property "=" pvalue )

Comments (nested parentheses) are dropped, quoted strings kept whole, so `(... dkim=pass ...)` inside a comment never
counts. Only what POLICY.md needs is kept: DKIM results with their signing domain, the DMARC and the SPF result.
"""
from __future__ import annotations

import re

from inboxbot.model import AuthResult

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s;="]+|=|;')


_INNERMOST_COMMENT = re.compile(r"\([^()]*\)")


def strip_comments(value: str) -> str:
    if "(" not in value:
        return value
    if '"' not in value and "\\" not in value:  # no quoting or escapes: drop innermost comments until none is left
        while True:
            shorter = _INNERMOST_COMMENT.sub(" ", value)
            if shorter == value:
                break
            value = shorter
        at = value.find("(")  # an unclosed comment runs to the end
        return value if at < 0 else value[:at] + " "
    out, depth, quoted, escaped = [], 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
            out.append(" ")
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse_authentication_results(value: str) -> AuthResult | None:
    """One header value -> AuthResult, or None when it has no authserv-id."""
    statements = _split(strip_comments(value))
    if not statements or not statements[0]:
        return None
    authserv_id = statements[0][0].strip('"').lower()
    dkim_pass: list[str] = []
    dkim_results: list[str] = []
    dmarc = spf = None
    for tokens in statements[1:]:
        if len(tokens) < 3 or tokens[1] != "=":
            continue
        method = tokens[0].split("/")[0].lower()
        result = tokens[2].strip('"').lower()
        props = _properties(tokens[3:])
        if method == "dkim":
            domain = props.get("header.d") or (props.get("header.i", "").rpartition("@")[2] or None)
            domain = domain.lower().strip(".") if domain else None
            dkim_results.append(f"{result} ({domain or 'no domain'})")
            if result == "pass" and domain:
                dkim_pass.append(domain)
        elif method == "dmarc" and dmarc is None:
            dmarc = result
        elif method == "spf" and spf is None:
            spf = result
    return AuthResult(authserv_id=authserv_id, dkim_pass=tuple(dkim_pass), dkim_results=tuple(dkim_results),
                      dmarc=dmarc, spf=spf)


def _split(value: str) -> list[list[str]]:
    statements: list[list[str]] = [[]]
    for token in _TOKEN.findall(value):
        if token == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    return statements


def _properties(tokens: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    i = 0
    while i + 2 < len(tokens):
        if tokens[i + 1] == "=":
            props.setdefault(tokens[i].lower(), tokens[i + 2].strip('"'))
            i += 3
        else:
            i += 1
    return props
