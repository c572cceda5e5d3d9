"""Users and their scope, passwords, logging in with throttling, and API tokens.

Every change an admin or the user herself makes to an account (but her choice of language), and every
login attempt, is written to the audit trail in the caller's transaction; `create_user` (the command
line and the demo data) is not. Login throttling treats an unknown e-mail exactly like an account (same messages, same
lock, one password-hash check each), so nobody can learn from the login form which e-mails exist.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import func, or_
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import N_, Forbidden, InvalidInput, NotFound
from ..models import ApiToken, AuditEntry, Municipality, Role, User, UserWard, Ward, WorkingHours, now_utc
from ..schemas import MAX_EMAIL, MAX_ID, Email, Input, Language, Name, parse_input
from . import audit
from .timeutil import use_to_record

TOKEN_PREFIX = "dsk_"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
PASSWORD_METHOD = "scrypt"  # werkzeug's default; tests use a cheaper one
GENERATED_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing to confuse

# audit object types of what this module manages
USER = "user"
API_TOKEN = "api_token"
# audit details of failed logins; the unknown-e-mail lock is derived from them
_UNKNOWN_EMAIL = "unknown e-mail"
_WHILE_LOCKED = "account locked"


# ---- users and their scope


class UserIn(Input):
    """A user as an admin enters her: scope fields that do not apply to the role are ignored."""

    email: Email
    name: Name
    role: Role
    language: Language = "da"
    municipality_code: str | None = Field(default=None, max_length=4)
    region_code: str | None = Field(default=None, max_length=10)
    ward_codes: list[str] = Field(default_factory=list, max_length=500)


def user_input(data: dict[str, Any]) -> UserIn:
    """Validate form or CLI values (blank scope fields mean none) into a UserIn."""
    cleaned = {key: (None if key in ("municipality_code", "region_code") and not value else value)
               for key, value in data.items()}
    cleaned["ward_codes"] = [code.strip() for code in cleaned.get("ward_codes") or [] if code and code.strip()]
    return parse_input(UserIn, cleaned)


def _apply_profile(session: Session, user: User, data: UserIn, *, replace_wards: bool) -> None:
    """Set name, role and scope after checking them against the municipalities and wards that exist."""
    municipality = data.municipality_code if data.role in (Role.advisor, Role.coordinator) else None
    region = data.region_code if data.role == Role.coordinator else None
    if data.role == Role.advisor and not municipality:
        raise InvalidInput(N_("En sundhedsrådgiver skal høre til en kommune"), field="municipality_code")
    if municipality and region:
        raise InvalidInput(N_("Vælg enten en region eller en kommune, ikke begge"), field="region_code")
    if municipality and session.get(Municipality, municipality) is None:
        raise InvalidInput(N_("Ukendt kommune"), field="municipality_code")
    if region and not session.exec(select(Municipality).where(Municipality.region_code == region)).first():
        raise InvalidInput(N_("Ukendt region"), field="region_code")
    wards: list[Ward] = []
    for code in dict.fromkeys(data.ward_codes if data.role == Role.secretary else []):
        ward = session.exec(select(Ward).where(Ward.code == code)).first() if len(code) <= 40 else None
        if ward is None:
            raise InvalidInput(N_("Ukendt afdeling: %(code)s"), field="ward_codes", code=code[:40])
        wards.append(ward)
    current = {row.ward_id: row for row in session.exec(select(UserWard).where(UserWard.user_id == user.id))} \
        if user.id is not None else {}
    if data.role == Role.secretary and not wards and (replace_wards or not current):
        raise InvalidInput(N_("En sekretær skal have mindst én afdeling"), field="ward_codes")
    user.email, user.name, user.role, user.language = data.email, data.name, data.role, data.language
    user.municipality_code, user.region_code = municipality, region
    session.add(user)
    session.flush()
    wanted = {ward.id for ward in wards}
    if replace_wards:
        for ward_id, row in current.items():
            if ward_id not in wanted:
                session.delete(row)
    for ward_id in wanted - set(current):
        session.add(UserWard(user_id=user.id, ward_id=ward_id))
    session.flush()


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def create_user(session: Session, *, email: str, name: str, role: Role, password: str | None = None,
                ward_codes: list[str] = (), municipality_code: str | None = None,
                region_code: str | None = None, now: datetime | None = None, language: str = "da") -> User:
    """Create or update (by e-mail) a user, adding wards (the command line and the demo data).

    `language` is a new user's (the deployment's default language); an existing user keeps hers."""
    data = user_input({"email": email, "name": name, "role": role, "ward_codes": list(ward_codes),
                       "municipality_code": municipality_code, "region_code": region_code,
                       "language": language})
    user = _user_by_email(session, data.email)
    if user is not None:
        data = data.model_copy(update={"language": user.language})
    user = user or User(email=data.email, name=data.name, role=data.role)
    _apply_profile(session, user, data, replace_wards=False)
    if password:
        set_password(user, password, now=now or now_utc())
    session.flush()
    return user


def add_user(session: Session, *, data: UserIn, actor: User, now: datetime, password: str | None = None,
             password_repeat: str | None = None) -> tuple[User, str | None]:
    """An admin creates a user; without a password one is generated and returned (to be shown once)."""
    if _user_by_email(session, data.email) is not None:
        raise InvalidInput(N_("Der findes allerede en bruger med denne e-mail"), field="email")
    password, generated = _typed_or_generated(password, repeat=password_repeat, email=data.email, field="password")
    user = User(email=data.email, name=data.name, role=data.role)
    _apply_profile(session, user, data, replace_wards=True)
    set_password(user, password, now=now)
    audit.record(session, actor=actor, action=audit.CREATE, object_type=USER, object_id=user.id, now=now,
                 detail=f"{user.email} ({user.role.value})")
    return user, generated


LANGUAGE_NAMES = {"da": "Dansk", "en": "English", "nb": "Norsk bokmål"}  # each in its own language


def set_language(session: Session, *, user: User, language: str) -> None:
    """Her own choice of language for pages and e-mails."""
    if language not in LANGUAGE_NAMES:
        raise InvalidInput(N_("Vælg et af sprogene på listen"), field="language")
    user.language = language
    session.add(user)
    session.flush()


def update_user(session: Session, *, user: User, data: UserIn, actor: User, now: datetime) -> User:
    """An admin changes a user's e-mail, name, language, role or scope (her wards are replaced)."""
    other = _user_by_email(session, data.email)
    if other is not None and other.id != user.id:
        raise InvalidInput(N_("Der findes allerede en bruger med denne e-mail"), field="email")
    if user.id == actor.id and data.role != Role.admin:
        raise InvalidInput(N_("Du kan ikke fjerne din egen administratorrolle"), field="role")
    before = _profile(session, user)
    _apply_profile(session, user, data, replace_wards=True)
    changed = [name for name, value in _profile(session, user).items() if before[name] != value]
    if changed:
        audit.record(session, actor=actor, action=audit.UPDATE, object_type=USER, object_id=user.id, now=now,
                     detail=f"{user.email}: {', '.join(changed)}")
    return user


def _profile(session: Session, user: User) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role, "language": user.language,
            "municipality_code": user.municipality_code, "region_code": user.region_code,
            "ward_codes": [w.code for w in wards_of(session, user)]}


def set_user_active(session: Session, *, user: User, is_active: bool, actor: User, now: datetime) -> None:
    """Deactivate (her sessions and API tokens stop working at once) or reactivate a user."""
    if user.id == actor.id:
        raise Forbidden(N_("Du kan ikke deaktivere din egen bruger"))
    if user.is_active == is_active:
        return
    user.is_active = is_active
    session.add(user)
    audit.record(session, actor=actor, action=audit.UPDATE, object_type=USER, object_id=user.id, now=now,
                 detail=f"{user.email}: {'reactivated' if is_active else 'deactivated'}")


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None:
        raise NotFound(N_("Brugeren findes ikke"))
    return user


def find_users(session: Session, *, text: str = "", role: Role | None = None,
               status: Literal["active", "inactive", "all"] = "active", limit: int = 200) -> list[User]:
    """Users whose name or e-mail contains `text`, by name."""
    query = select(User).order_by(User.name, User.id).limit(limit)
    if text.strip():
        needle = text.strip().lower()
        query = query.where(or_(func.lower(User.name).contains(needle, autoescape=True),
                                func.lower(User.email).contains(needle, autoescape=True)))
    if role is not None:
        query = query.where(User.role == role)
    if status != "all":
        query = query.where(User.is_active == (status == "active"))
    return list(session.exec(query))


def wards_of(session: Session, user: User) -> list[Ward]:
    """The wards she books for, by name (then code)."""
    return list(session.exec(select(Ward).join(UserWard, UserWard.ward_id == Ward.id)
                             .where(UserWard.user_id == user.id).order_by(Ward.name, Ward.code)))


def all_wards(session: Session) -> list[Ward]:
    return list(session.exec(select(Ward).order_by(Ward.code)))


def regions(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every region that has municipalities."""
    rows = session.exec(select(Municipality.region_code, Municipality.region_name).distinct()
                        .order_by(Municipality.region_code))
    return [(code, name) for code, name in rows]


def set_working_hours(session: Session, *, user: User, hours: dict[int, list[tuple[time, time]]]) -> None:
    """Replace the advisor's own working hours (weekday 0 = Monday)."""
    for row in session.exec(select(WorkingHours).where(WorkingHours.user_id == user.id)):
        session.delete(row)
    for weekday, windows in hours.items():
        for start, end in windows:
            session.add(WorkingHours(user_id=user.id, weekday=weekday, start_time=start, end_time=end))
    session.flush()


def users_by_id(session: Session, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.exec(select(User).where(User.id.in_(ids)))}


def advisors_of(session: Session, municipality_code: str) -> list[User]:
    return list(session.exec(select(User).where(User.role == Role.advisor, User.is_active,
                                                User.municipality_code == municipality_code)
                             .order_by(User.name)))


def municipalities(session: Session) -> list[Municipality]:
    return list(session.exec(select(Municipality).order_by(Municipality.name)))


# ---- passwords


def check_new_password(password: str, *, email: str, repeat: str | None = None,
                       field: str = "new_password") -> None:
    """The rules for a new password; errors name `field` (and `<field>_repeat` for the repetition)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(N_("Adgangskoden skal være mindst %(min)s tegn"), field=field, min=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(N_("Adgangskoden må højst være %(max)s tegn"), field=field, max=MAX_PASSWORD_LENGTH)
    if password.strip().lower() == email.strip().lower():
        raise InvalidInput(N_("Adgangskoden må ikke være din e-mailadresse"), field=field)
    if repeat is not None and repeat != password:
        raise InvalidInput(N_("De to adgangskoder er ikke ens"), field=f"{field}_repeat")


def set_password(user: User, password: str, *, now: datetime) -> None:
    """Store the password's hash; this also ends her other sessions (see session_version) and any lock."""
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    user.password_changed_at = now
    user.failed_logins, user.locked_until = 0, None


def _typed_or_generated(password: str | None, *, repeat: str | None, email: str,
                        field: str) -> tuple[str, str | None]:
    """The password an admin typed (checked), or a generated one; the second value is the generated one
    (to be shown once), None when she typed it."""
    if password:
        check_new_password(password, repeat=repeat, email=email, field=field)
        return password, None
    generated = generate_password()
    return generated, generated


def generate_password() -> str:
    return "".join(secrets.choice(GENERATED_PASSWORD_ALPHABET) for _ in range(16))


def session_version(user: User) -> str:
    """Changes whenever her password changes: a session that carries an older one is no longer valid."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def change_password(session: Session, *, user: User, current: str, new: str, repeat: str, now: datetime,
                    policy: LoginPolicy) -> None:
    """A user changes her own password; a wrong current password counts as a failed login."""
    if _is_locked(user, now):
        raise InvalidInput(N_("Kontoen er låst efter for mange forkerte forsøg. Prøv igen om %(minutes)s "
                              "minutter."), field="current_password", minutes=_minutes_left(user.locked_until, now))
    if not _password_matches(user.password_hash, current):
        audit.record(session, actor=user, action=audit.LOGIN_FAILED, object_type=USER, object_id=user.id,
                     now=now, detail="wrong current password on password change")
        _count_failure(session, user, now=now, policy=policy)
        raise InvalidInput(N_("Den nuværende adgangskode er forkert"), field="current_password")
    check_new_password(new, repeat=repeat, email=user.email)
    set_password(user, new, now=now)
    session.add(user)
    audit.record(session, actor=user, action=audit.UPDATE, object_type=USER, object_id=user.id, now=now,
                 detail="password changed")


def reset_password(session: Session, *, user: User, actor: User, now: datetime, new: str | None = None,
                   repeat: str | None = None) -> str | None:
    """An admin sets a new password, or gets a generated one (returned, to be shown once); also unlocks."""
    new, generated = _typed_or_generated(new, repeat=repeat, email=user.email, field="new_password")
    set_password(user, new, now=now)
    session.add(user)
    audit.record(session, actor=actor, action=audit.UPDATE, object_type=USER, object_id=user.id, now=now,
                 detail=f"{user.email}: password reset")
    return generated


# ---- logging in


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout: timedelta

    @classmethod
    def from_config(cls, config: Any) -> LoginPolicy:
        return cls(max_failures=config.security.login_max_failures,
                   lockout=timedelta(minutes=config.security.login_lockout_minutes))


@dataclass(frozen=True)
class LoginResult:
    user: User | None  # logged in, or None
    locked_until: datetime | None = None  # set when the e-mail is locked (also for an unknown e-mail)

    @property
    def is_locked(self) -> bool:
        return self.locked_until is not None

    def minutes_left(self, now: datetime) -> int:
        return _minutes_left(self.locked_until, now) if self.locked_until else 0


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def _password_matches(password_hash: str | None, password: str) -> bool:
    """One hash check in every case, so a missing account or password costs the same time."""
    matches = check_password_hash(password_hash or _dummy_hash(PASSWORD_METHOD), password)
    return matches and password_hash is not None


def _is_locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _minutes_left(until: datetime | None, now: datetime) -> int:
    return max(1, -(-int((until - now).total_seconds()) // 60)) if until else 0


def log_in(session: Session, *, email: str, password: str, now: datetime, policy: LoginPolicy) -> LoginResult:
    """Check e-mail and password; `max_failures` failures in a row lock the e-mail for `lockout`."""
    email = email.strip().lower()[:MAX_EMAIL]
    user = _user_by_email(session, email) if email else None
    if user is None:
        return _log_in_unknown(session, email=email, password=password, now=now, policy=policy)
    matches = _password_matches(user.password_hash, password)
    if _is_locked(user, now):
        audit.record(session, actor=user, action=audit.LOGIN_FAILED, object_type=USER, object_id=user.id,
                     now=now, detail=_WHILE_LOCKED)
        return LoginResult(None, user.locked_until)
    if matches and user.is_active:
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        session.add(user)
        audit.record(session, actor=user, action=audit.LOGIN, object_type=USER, object_id=user.id, now=now)
        return LoginResult(user)
    audit.record(session, actor=user, action=audit.LOGIN_FAILED, object_type=USER, object_id=user.id, now=now,
                 detail="wrong password" if user.is_active else "account deactivated")
    _count_failure(session, user, now=now, policy=policy)
    return LoginResult(None, user.locked_until if _is_locked(user, now) else None)


def _count_failure(session: Session, user: User, *, now: datetime, policy: LoginPolicy) -> None:
    user.failed_logins += 1
    if user.failed_logins >= policy.max_failures:
        user.failed_logins, user.locked_until = 0, now + policy.lockout
        audit.record(session, actor=user, action=audit.LOCKOUT, object_type=USER, object_id=user.id, now=now,
                     detail=f"{policy.max_failures} failed logins")
    session.add(user)


def _log_in_unknown(session: Session, *, email: str, password: str, now: datetime,
                    policy: LoginPolicy) -> LoginResult:
    """The same steps and answers as for an account, its counter and lock kept in the audit trail."""
    _password_matches(None, password)
    about_email = (AuditEntry.user_email == email, AuditEntry.user_id.is_(None))  # by ix_audit_entry_email_action_at
    last_lock = session.exec(select(func.max(AuditEntry.at)).where(*about_email,
                                                                   AuditEntry.action == audit.LOCKOUT)).one()
    if last_lock is not None and last_lock + policy.lockout > now:
        audit.record(session, actor=None, actor_email=email, action=audit.LOGIN_FAILED, object_type=USER,
                     now=now, detail=_WHILE_LOCKED)
        return LoginResult(None, last_lock + policy.lockout)
    failures = select(AuditEntry).where(*about_email, AuditEntry.action == audit.LOGIN_FAILED,
                                        AuditEntry.detail == _UNKNOWN_EMAIL)
    if last_lock is not None:
        failures = failures.where(AuditEntry.at > last_lock)
    count = session.exec(select(func.count()).select_from(failures.subquery())).one() + 1
    audit.record(session, actor=None, actor_email=email, action=audit.LOGIN_FAILED, object_type=USER, now=now,
                 detail=_UNKNOWN_EMAIL)
    if count >= policy.max_failures:
        audit.record(session, actor=None, actor_email=email, action=audit.LOCKOUT, object_type=USER, now=now,
                     detail=f"{policy.max_failures} failed logins (unknown e-mail)")
        return LoginResult(None, now + policy.lockout)
    return LoginResult(None)


# ---- API tokens


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, *, user: User, now: datetime, actor: User | None = None) -> str:
    """A new token; only its hash is stored, so it is shown once. `actor` None: the command line."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action=audit.CREATE, object_type=API_TOKEN, object_id=row.id, now=now,
                 detail=f"for {user.email}")
    return token


def user_for_token(session: Session, *, token: str, now: datetime) -> User | None:
    """The active user of an unrevoked token (her role and scope apply); records the use, to the minute."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                              ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if use_to_record(row.last_used_at, now):  # to the minute: the pages show no more
        row.last_used_at = now
        session.add(row)
    return user


def api_tokens(session: Session, *, user: User) -> list[ApiToken]:
    """Her tokens that still work, newest first."""
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                             .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def api_token_of(session: Session, *, user: User, token_id: int) -> ApiToken:
    """One of her unrevoked tokens; 404 for anyone else's."""
    row = session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound(N_("Adgangsnøglen findes ikke"))
    return row


def revoke_api_token(session: Session, *, token: ApiToken, actor: User, now: datetime) -> None:
    token.revoked_at = now
    session.add(token)
    audit.record(session, actor=actor, action=audit.REVOKE, object_type=API_TOKEN, object_id=token.id, now=now,
                 detail=f"of user {token.user_id}")
