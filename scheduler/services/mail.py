"""iMIP e-mails (RFC 6047) laid out as ../shared/CALENDAR.md says, and sending them over SMTP."""
from __future__ import annotations

import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid
from datetime import datetime


# RFC 5322 specials: in a display name they need a quoted-string, and a header writer that loses the quotes
# (as the email package's modern policy does for long names, CPython gh-80222) turns "Hansen,
# evil@example.org, ..." into extra addresses. The classic writer used below keeps them; a display name is
# only shown, so it goes without specials anyway: no writer or reader down the line can misread it.
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


# The messages are built with the email package's classic (compat32) classes: its modern API parsed and
# refolded every header of every part again, three times the work for the same bytes (BENCHMARKS.md,
# booking); each booking builds two to four of these.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_UTF8_QP.header_encoding = QP
WIRE_POLICY = compat32.clone(linesep="\r\n")  # CRLF line ends, as SMTP wants them


@dataclass(frozen=True)
class Mail:
    """A message ready for the outbox: its recipient and subject as plain text, and the MIME tree."""

    recipient: str
    subject: str
    message: Message

    def wire_text(self) -> str:
        """The whole RFC 5322 message as it is sent."""
        return self.message.as_string(policy=WIRE_POLICY)

    def as_bytes(self) -> bytes:
        return self.wire_text().encode("utf-8")


def build_message(*, sender_name: str, sender_email: str, recipient_name: str | None, recipient_email: str,
                  subject: str, text: str, html: str, now: datetime, calendar: bytes | None = None,
                  method: str | None = None, attach_calendar: bool = False) -> Mail:
    """multipart/mixed -> multipart/alternative (text, html, text/calendar; method=...) [+ invite.ics]."""
    if calendar is not None and method is None:
        raise ValueError("a calendar part needs its METHOD")
    alternative = MIMEMultipart("alternative", boundary=_boundary())
    alternative.attach(_text_part(text, "plain"))
    alternative.attach(_text_part(html, "html"))
    if calendar is not None:
        part = _text_part(calendar.decode("utf-8"), "calendar")
        part.set_param("method", method)
        alternative.attach(part)
    del alternative["MIME-Version"]  # once, on the whole message
    message = MIMEMultipart("mixed", boundary=_boundary())
    message.attach(alternative)
    if calendar is not None and attach_calendar:
        attachment = MIMEApplication(calendar, "ics")
        attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
        del attachment["MIME-Version"]
        message.attach(attachment)
    message["From"] = _address(sender_name, sender_email)
    message["To"] = _address(recipient_name, recipient_email)
    subject = " ".join(subject.split())  # one line: a title typed by a user must not start a new header
    message["Subject"] = Header(subject, "us-ascii" if subject.isascii() else _UTF8_QP)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender_email.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    return Mail(recipient=recipient_email, subject=subject, message=message)


def _boundary() -> str:
    """A random multipart boundary that no part can contain: every part is quoted-printable or base64, and
    neither ever writes "=_" (the generator would otherwise search each part for its boundary)."""
    return f"=_{uuid.uuid4().hex}"


def _text_part(content: str, subtype: str) -> MIMEText:
    part = MIMEText(content, subtype, _UTF8_QP)
    del part["MIME-Version"]
    return part


def _address(name: str | None, email: str) -> str:
    """`Name <email>`: the name without specials or line breaks (display_name), encoded if not ASCII."""
    shown = display_name(name)
    if not shown:
        return email
    return formataddr((shown, email), charset="utf-8")
