"""Sending replies (replies.mode = "send") over SMTP: the only importer of smtplib. Foreign exceptions are mapped
to SendError here; a message the server did not accept for every recipient counts as not sent."""
from __future__ import annotations

import re
import smtplib
import socket
import ssl

from inboxbot.errors import InboxbotError


class SendError(InboxbotError):
    hint = "Check the [smtp] settings; the reply stays in Drafts so you can send it yourself."


class SmtpSender:
    def __init__(self, host: str, port: int, security: str, username: str = "", password: str = "", *,
                 timeout: float = 60, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, raw: bytes, sender: str, recipient: str) -> None:
        where = f"{self.host}:{self.port}"
        raw = re.sub(rb"\r?\n", b"\r\n", raw)  # SMTP wants CRLF; smtplib leaves bytes as they are
        try:
            if self.security == "tls":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=self.ssl_context)
                if self.username:
                    client.login(self.username, self._password)
                refused = client.sendmail(sender, [recipient], raw)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"{where} rejected the SMTP login for {self.username}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"{where} refused the recipient {recipient}") from exc
        except (smtplib.SMTPException, ssl.SSLError) as exc:
            raise SendError(f"sending through {where} failed: {exc}") from exc
        except (socket.gaierror, ConnectionError, socket.timeout, OSError) as exc:
            raise SendError(f"cannot connect to the SMTP server {where}: {exc}") from exc
        if refused:
            raise SendError(f"{where} refused the recipient {recipient}")
