"""E-mail until the mail feature lands: each message is written to the outbox folder as
one ``.eml`` file (RFC 5322), which any mail client opens.

The outbox stands in for the recipient's mailbox: an invitation link sent through an
agency role reaches the invited address only, never the inviter's answer or the log
(the log redacts every token).
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from agencyhub.db import utcnow


def write_message(outbox: Path, *, to: str, subject: str, body: str) -> Path:
    """Write one message; the file name sorts by time, so the newest comes last."""
    message = EmailMessage()
    message["To"] = to
    message["From"] = "AgencyHub <no-reply@agencyhub.invalid>"
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message.set_content(body)
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(message.as_bytes())
    temporary.replace(path)  # a reader never sees half a message
    return path
