"""Networks whose mail is never a connection invitation here (follower notices, event newsletters).
They are recognised so that `network` is right and a forged copy is still caught."""
from __future__ import annotations

import re

from inboxbot.model import Kind
from inboxbot.parse.base import Fields, Network
from inboxbot.parse.mime import Mail


def _never_invitation(mail: Mail) -> Fields:
    return Fields(Kind.OTHER, "a notification that is not a connection request")


TWITTER = Network(name="twitter", brand="Twitter", domains=("twitter.com", "x.com"),
                  dkim_domains=("twitter.com", "x.com"), header_prefixes=("X-Twitter",),
                  subject_claims=(re.compile(r"is now following you on Twitter", re.I),), read=_never_invitation)
MEETUP = Network(name="meetup", brand="Meetup", domains=("meetup.com",), dkim_domains=("meetup.com",),
                 read=_never_invitation)
