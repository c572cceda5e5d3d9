"""Users, passwords and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, time

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import N_, InvalidInput
from ..models import ApiToken, Municipality, Role, User, UserWard, Ward, WorkingHours
from ..schemas import EMAIL_RE

TOKEN_PREFIX = "dsk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, email: str, name: str, role: Role, password: str | None = None,
                ward_codes: list[str] = (), municipality_code: str | None = None,
                region_code: str | None = None) -> User:
    """Create (or update, by e-mail) a user with her wards or municipality."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput(N_("Ugyldig e-mailadresse"), field="email")
    if role == Role.advisor and not municipality_code:
        raise InvalidInput(N_("En sundhedsrådgiver skal høre til en kommune"), field="municipality")
    if municipality_code and session.get(Municipality, municipality_code) is None:
        raise InvalidInput(N_("Ukendt kommune"), field="municipality")
    if region_code and not session.exec(select(Municipality).where(Municipality.region_code == region_code)).first():
        raise InvalidInput(N_("Ukendt region"), field="region")
    user = session.exec(select(User).where(User.email == email)).first() or User(email=email, name=name, role=role)
    user.name, user.role, user.municipality_code, user.region_code = name, role, municipality_code, region_code
    if password:
        user.password_hash = generate_password_hash(password)
    session.add(user)
    session.flush()
    for code in ward_codes:
        ward = session.exec(select(Ward).where(Ward.code == code)).first()
        if ward is None:
            raise InvalidInput(N_("Ukendt afdeling"), field="ward")
        if session.get(UserWard, (user.id, ward.id)) is None:
            session.add(UserWard(user_id=user.id, ward_id=ward.id))
    session.flush()
    return user


def set_working_hours(session: Session, *, user: User, hours: dict[int, list[tuple[time, time]]]) -> None:
    """Replace the advisor's own working hours (weekday 0 = Monday)."""
    for row in session.exec(select(WorkingHours).where(WorkingHours.user_id == user.id)):
        session.delete(row)
    for weekday, windows in hours.items():
        for start, end in windows:
            session.add(WorkingHours(user_id=user.id, weekday=weekday, start_time=start, end_time=end))
    session.flush()


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or not user.is_active or not user.password_hash:
        return None
    return user if check_password_hash(user.password_hash, password) else None


def issue_api_token(session: Session, *, user: User, now: datetime) -> str:
    """A new token; only its hash is stored, so it is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now))
    session.flush()
    return token


def user_for_token(session: Session, *, token: str, now: datetime) -> User | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                              ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    row.last_used_at = now
    session.add(row)
    return user


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
