"""Input and output shapes shared by the web forms and the JSON API."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import N_, InvalidInput

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # characters no one-line text may hold
MAX_EMAIL = 254  # RFC 5321
MAX_ID = 2**31 - 1  # PostgreSQL integer: a larger id would fail in the database, not as bad input
FIRST_YEAR, LAST_YEAR = 2000, 2999
D = TypeVar("D", date, datetime)


def _clean_text(value: str) -> str:
    value = value.strip()
    if CONTROL.search(value):
        raise ValueError(N_("Må ikke indeholde linjeskift eller kontroltegn"))
    return value


def _email(value: str) -> str:
    value = _clean_text(value).lower()
    if not EMAIL_RE.match(value):
        raise ValueError(N_("Ugyldig e-mailadresse"))
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"\+?[0-9 ()-]{6,20}", value):
        raise ValueError(N_("Ugyldigt telefonnummer"))
    return value


def within_years(value: D) -> D:
    """Reject far-off years, which would overflow when moved between time zones."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(N_("Året skal ligge mellem 2000 og 2999"))
    return value


def optional_day(args: Any, name: str) -> date | None:
    """A date query argument (2026-12-01), None when absent or empty; InvalidInput naming it otherwise."""
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        return within_years(date.fromisoformat(value))
    except ValueError:
        raise InvalidInput(N_("Ugyldig dato; brug formatet 2026-12-01"), field=name) from None


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
Email = Annotated[str, Field(max_length=MAX_EMAIL), AfterValidator(_email)]
Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
Reason = Annotated[str, Field(max_length=500), AfterValidator(_clean_text)]
Language = Literal["da", "en", "nb"]
Code = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_clean_text)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
When = Annotated[datetime, AfterValidator(within_years)]
Day = Annotated[date, AfterValidator(within_years)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatientIn(Input):
    name: Name
    cpr: str | None = Field(default=None, max_length=11)
    email: Email | None = None
    phone: Phone | None = None


class RelativeIn(Input):
    name: Name
    email: Email | None = None
    phone: Phone | None = None


class StaffIn(Input):
    name: Name
    email: Email


class MeetingCreate(Input):
    ward: Code
    municipality: str = Field(pattern=r"^\d{4}$")
    start: When
    duration_minutes: int | None = Field(default=None, ge=10, le=240)
    advisor_id: Id | None = None
    discharge_at: When | None = None
    patient: PatientIn
    relatives: list[RelativeIn] = Field(default_factory=list, max_length=10)
    staff: list[StaffIn] = Field(min_length=1, max_length=10)
    language: Language | None = None  # the patient's; the deployment's language (app.language) when left out
    meeting_type: Literal["discharge", "short_term_home_care"] = "discharge"


class MeetingReschedule(Input):
    start: When | None = None
    duration_minutes: int | None = Field(default=None, ge=10, le=240)
    advisor_id: Id | None = None
    reason: Reason | None = None


class MeetingCancel(Input):
    reason: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_clean_text)]


class SlotQuery(Input):
    municipality: str = Field(pattern=r"^\d{4}$")
    from_: Day = Field(alias="from")
    to: Day
    duration: int | None = Field(default=None, ge=10, le=240)
    advisor_id: Id | None = None
    discharge_at: When | None = None


# ---- offer catalogue and what was recorded after a meeting

OFFER_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_NOTE = 1000
NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_formula(value: str) -> str:
    """Spreadsheets run a cell starting with = or @ as a formula; no offer text needs to start so."""
    if value[:1] in ("=", "@"):
        raise ValueError(N_("Må ikke begynde med = eller @"))
    return value


def _note(value: str) -> str:
    value = value.strip()
    if NOTE_CONTROL.search(value):
        raise ValueError(N_("Må ikke indeholde kontroltegn"))
    return value


OfferCode = Annotated[str, Field(min_length=1, max_length=40, pattern=OFFER_CODE_PATTERN)]
Note = Annotated[str, Field(max_length=MAX_NOTE), AfterValidator(_note)]


class OfferIn(Input):
    """One offer of a municipality's catalogue as typed in the form, imported, or loaded as demo data."""

    code: OfferCode
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text), AfterValidator(_no_formula)]
    category: Annotated[str, Field(min_length=1, max_length=40)]
    description: Annotated[str, Field(max_length=1000), AfterValidator(_clean_text),
                           AfterValidator(_no_formula)] | None = None
    referral_required: bool = False
    contact: Annotated[str, Field(max_length=300), AfterValidator(_clean_text),
                       AfterValidator(_no_formula)] | None = None
    active_from: Day | None = None
    active_to: Day | None = None

    @field_validator("description", "contact", "active_from", "active_to", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("referral_required", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        """Also the Danish words of the CSV file and an unticked checkbox (nothing sent)."""
        if value is None:
            return False
        if isinstance(value, str):
            return {"ja": True, "nej": False, "": False}.get(value.strip().lower(), value)
        return value


class OutcomeIn(Input):
    outcome: Literal["held", "no_show", "cancelled_late"]


class OfferChoiceIn(Input):
    code: OfferCode
    response: Literal["accepted", "declined", "considering", "referred"]


class OffersIn(Input):
    """The offers presented in a meeting and the patient's response to each; replaces what was recorded."""

    offers: list[OfferChoiceIn] = Field(max_length=100)
    note: Note | None = None


class UptakeIn(Input):
    status: Literal["started", "not_started", "unknown"]
    started_on: Day | None = None


# Messages for pydantic's own error types, as Danish gettext msgids.
_MESSAGES = {
    "missing": N_("Skal udfyldes"),
    "string_too_short": N_("Skal udfyldes"),
    "too_short": N_("Mindst %(min_length)s skal angives"),
    "too_long": N_("Højst %(max_length)s må angives"),
    "string_too_long": N_("Må højst være %(max_length)s tegn"),
    "string_pattern_mismatch": N_("Har ikke det rigtige format"),
    "greater_than_equal": N_("Skal være mindst %(ge)s"),
    "less_than_equal": N_("Må højst være %(le)s"),
    "int_parsing": N_("Skal være et helt tal"),
    "int_type": N_("Skal være et helt tal"),
    "datetime_parsing": N_("Ugyldigt tidspunkt; brug formatet 2026-12-01T10:00:00+01:00"),
    "datetime_from_date_parsing": N_("Ugyldigt tidspunkt; brug formatet 2026-12-01T10:00:00+01:00"),
    "datetime_type": N_("Ugyldigt tidspunkt; brug formatet 2026-12-01T10:00:00+01:00"),
    "date_parsing": N_("Ugyldig dato; brug formatet 2026-12-01"),
    "date_from_datetime_parsing": N_("Ugyldig dato; brug formatet 2026-12-01"),
    "date_type": N_("Ugyldig dato; brug formatet 2026-12-01"),
    "extra_forbidden": N_("Ukendt felt"),
    "literal_error": N_("Ugyldig værdi"),
    "string_type": N_("Skal være tekst"),
    "list_type": N_("Skal være en liste"),
    "model_type": N_("Skal være et objekt"),
    "model_attributes_type": N_("Skal være et objekt"),
    "bool_parsing": N_("Skal være ja eller nej"),
    "bool_type": N_("Skal være ja eller nej"),
}

M = TypeVar("M", bound=BaseModel)


def error_fields(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors -> {"patient.cpr": "message"}, first error per field."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "body"
        path = path.replace("from_", "from")
        if error["type"] == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        else:
            template = _MESSAGES.get(error["type"], N_("Ugyldig værdi"))
            ctx = error.get("ctx", {})
            try:
                message = template % ctx if "%(" in template else template
            except (KeyError, TypeError):
                message = template
        fields.setdefault(path, message)
    return fields


def parse_input(model: type[M], data: Any) -> M:
    """Validate `data` into `model` or raise InvalidInput naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(N_("Forventede et JSON-objekt"), field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(N_("Ugyldige oplysninger"), fields=error_fields(exc)) from None
