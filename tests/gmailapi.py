"""Turn a Gmail API `users.messages.get` (format=full) response into RFC 822 bytes, for tests.

The API gives every header as received and each part's already transfer-decoded content, base64url-encoded."""
from __future__ import annotations

import base64
import json
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

_SKIP = {"content-type", "content-transfer-encoding", "mime-version"}


def load(path: Path) -> dict:
    data, _ = json.JSONDecoder().raw_decode(path.read_text(encoding="utf-8"))  # some dumps have trailing output
    return data


def _part(payload: dict) -> Message:
    mime = payload.get("mimeType", "text/plain")
    if mime.startswith("multipart/"):
        msg = MIMEMultipart(mime.split("/", 1)[1])
        for sub in payload.get("parts", []):
            msg.attach(_part(sub))
        return msg
    raw = base64.urlsafe_b64decode(payload.get("body", {}).get("data", "") + "==")
    return MIMEText(raw.decode("utf-8", "replace"), mime.split("/", 1)[1], "utf-8")


def to_rfc822(path: Path) -> bytes:
    data = load(path)
    msg = _part(data["payload"])
    top = [(h["name"], h["value"]) for h in data["payload"]["headers"] if h["name"].lower() not in _SKIP]
    body = msg.as_bytes()
    head = "".join(f"{name}: {value}\r\n" for name, value in top).encode("utf-8")
    return head + body
