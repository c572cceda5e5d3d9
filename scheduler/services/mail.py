"""iMIP e-mails (RFC 6047) laid out as ../shared/CALENDAR.md says, and sending them over SMTP."""
from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime


# RFC 5322 specials: in a display name they need a quoted-string, and Python's header folding can drop the
# quotes of a long one (CPython gh-80222), so "Hansen, evil@example.org, ..." would become extra addresses.
# A display name is only shown, so it goes without them.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def display_name(name: str | None) -> str:
    """A name for an address header: no specials, one line."""
    return " ".join(_SPECIALS.sub(" ", name or "").split())


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none, starttls, ssl
    user: str = ""
    password: str = ""
    timeout: float = 20

    @classmethod
    def from_config(cls, config) -> "SmtpSettings":  # type: ignore[no-untyped-def]
        s = config.smtp
        return cls(host=s.host, port=s.port, security=s.security, user=s.user, password=s.password)

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                smtp.starttls(context=context)
        if self.user:
            smtp.login(self.user, self.password)
        return smtp


def build_message(*, sender_name: str, sender_email: str, recipient_name: str | None, recipient_email: str,
                  subject: str, text: str, html: str, now: datetime, calendar: bytes | None = None,
                  method: str | None = None, attach_calendar: bool = False) -> EmailMessage:
    """multipart/mixed -> multipart/alternative (text, html, text/calendar; method=...) [+ invite.ics]."""
    message = EmailMessage()
    message["From"] = Address(display_name=display_name(sender_name), addr_spec=sender_email)
    message["To"] = Address(display_name=display_name(recipient_name), addr_spec=recipient_email)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender_email.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if calendar is not None:
        if method is None:
            raise ValueError("a calendar part needs its METHOD")
        message.add_alternative(calendar.decode("utf-8"), subtype="calendar", cte="quoted-printable",
                                params={"method": method})
    message.make_mixed()
    if calendar is not None and attach_calendar:
        message.add_attachment(calendar, maintype="application", subtype="ics", filename="invite.ics")
    return message
