"""Users and their scope, password rules, login throttling (also for unknown e-mails) and API tokens."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from werkzeug.security import check_password_hash

from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.models import ApiToken, AuditEntry, Role, UserWard
from scheduler.services import audit, users

POLICY = users.LoginPolicy(max_failures=3, lockout=timedelta(minutes=15))
GOOD = "a-long-secret-1"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def admin(session, factory):
    admin = factory.user(role=Role.admin, email="admin@example.org")
    session.commit()
    return admin


def user_data(**overrides):
    data = {"email": "ny@hospital.example", "name": "Nina Ny", "role": "secretary", "language": "da",
            "municipality_code": "", "region_code": "", "ward_codes": []}
    data.update(overrides)
    return users.user_input(data)


def entries(session, **where) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return list(session.exec(query))


def field_of(excinfo) -> set[str]:
    return set(excinfo.value.fields)


# ---- users and scope


def test_an_admin_adds_each_role_with_its_scope(session, factory, admin, now):
    factory.ward(code="MED")
    factory.ward(code="KIR")
    secretary, generated = users.add_user(session, data=user_data(ward_codes=["MED", "KIR"]), actor=admin, now=now)
    assert generated and len(generated) == 16 and check_password_hash(secretary.password_hash, generated)
    assert [w.code for w in users.wards_of(session, secretary)] == ["KIR", "MED"]
    advisor, _ = users.add_user(session, data=user_data(email="r@k.example", role="advisor", municipality_code="0540",
                                                        region_code="DK-83", ward_codes=["MED"]),
                                actor=admin, now=now, password=GOOD, password_repeat=GOOD)
    # scope fields that do not belong to the role are dropped, not stored
    assert (advisor.municipality_code, advisor.region_code, users.wards_of(session, advisor)) == ("0540", None, [])
    regional, _ = users.add_user(session, data=user_data(email="k@r.example", role="coordinator", region_code="DK-83"),
                                 actor=admin, now=now)
    national, _ = users.add_user(session, data=user_data(email="n@r.example", role="coordinator"), actor=admin, now=now)
    assert (regional.region_code, national.region_code, national.municipality_code) == ("DK-83", None, None)
    created = entries(session, action=audit.CREATE, object_type=users.USER)
    assert [e.object_id for e in created] == [str(u.id) for u in (secretary, advisor, regional, national)]
    assert all(e.user_id == admin.id for e in created)
    assert all(GOOD not in (e.detail or "") and generated not in (e.detail or "") for e in entries(session))


@pytest.mark.parametrize(("overrides", "field"), [
    ({"role": "advisor"}, "municipality_code"),
    ({"role": "advisor", "municipality_code": "9999"}, "municipality_code"),
    ({"role": "coordinator", "region_code": "DK-99"}, "region_code"),
    ({"role": "coordinator", "region_code": "DK-83", "municipality_code": "0540"}, "region_code"),
    ({"ward_codes": []}, "ward_codes"),
    ({"ward_codes": ["NOPE"]}, "ward_codes"),
    ({"email": "not-an-email"}, "email"),
    ({"name": ""}, "name"),
    ({"role": "superuser"}, "role"),
    ({"language": "de"}, "language"),
])
def test_bad_user_data_names_the_field(session, factory, admin, now, overrides, field):
    factory.ward(code="MED")
    with pytest.raises(InvalidInput) as excinfo:
        users.add_user(session, data=user_data(**overrides), actor=admin, now=now)
    assert field in field_of(excinfo)


def test_an_e_mail_belongs_to_one_user(session, factory, admin, now):
    ward = factory.ward(code="MED")
    factory.secretary(ward).email = "ny@hospital.example"
    session.flush()
    with pytest.raises(InvalidInput) as excinfo:
        users.add_user(session, data=user_data(email="NY@hospital.example", ward_codes=["MED"]), actor=admin, now=now)
    assert field_of(excinfo) == {"email"}


def test_update_replaces_wards_and_records_what_changed(session, factory, admin, now):
    factory.ward(code="MED")
    factory.ward(code="KIR")
    user, _ = users.add_user(session, data=user_data(ward_codes=["MED"]), actor=admin, now=now)
    users.update_user(session, user=user, data=user_data(name="Nina Nyere", ward_codes=["KIR"]), actor=admin, now=now)
    assert [w.code for w in users.wards_of(session, user)] == ["KIR"]
    [entry] = entries(session, action=audit.UPDATE)
    assert entry.detail == "ny@hospital.example: name, ward_codes"
    users.update_user(session, user=user, data=user_data(role="advisor", municipality_code="0306", ward_codes=["KIR"]),
                      actor=admin, now=now)
    assert (user.role, user.municipality_code) == (Role.advisor, "0306")
    assert session.exec(select(UserWard).where(UserWard.user_id == user.id)).all() == []


def test_an_admin_keeps_her_own_admin_role_and_cannot_deactivate_herself(session, factory, admin, now):
    with pytest.raises(InvalidInput) as excinfo:
        users.update_user(session, user=admin, data=user_data(email=admin.email, role="coordinator"),
                          actor=admin, now=now)
    assert field_of(excinfo) == {"role"}
    with pytest.raises(Forbidden):
        users.set_user_active(session, user=admin, is_active=False, actor=admin, now=now)
    assert admin.is_active


def test_the_command_line_upsert_adds_wards_and_keeps_the_existing_ones(session, factory, now):
    factory.ward(code="MED")
    factory.ward(code="KIR")
    user = users.create_user(session, email="S@H.example", name="S", role=Role.secretary, ward_codes=["MED"],
                             password="short", now=now)
    again = users.create_user(session, email="s@h.example", name="S2", role=Role.secretary, ward_codes=["KIR"])
    assert again.id == user.id and again.name == "S2"
    assert [w.code for w in users.wards_of(session, user)] == ["KIR", "MED"]
    assert check_password_hash(user.password_hash, "short")  # the demo's passwords are set as given
    with pytest.raises(InvalidInput) as excinfo:
        users.create_user(session, email="t@h.example", name="T", role=Role.secretary)
    assert field_of(excinfo) == {"ward_codes"}


def test_find_users_by_text_role_and_status(session, factory, admin, now):
    ward = factory.ward()
    anna = factory.user(name="Anna 100% Hansen", email="anna@x.example", ward=ward)
    bo = factory.user(role=Role.advisor, name="Bo", email="bo_b@x.example", municipality_code="0540")
    bo.is_active = False
    session.flush()
    assert users.find_users(session, text="ANNA") == [anna]
    assert users.find_users(session, text="100%") == [anna]  # % is a character, not a wildcard
    assert users.find_users(session, text="_b@") == []  # only active by default
    assert users.find_users(session, text="_b@", status="inactive") == [bo]
    assert users.find_users(session, role=Role.admin, status="all") == [admin]


def test_get_user_is_404_for_unknown_or_absurd_ids(session):
    for user_id in (0, 999, 2**40):
        with pytest.raises(NotFound):
            users.get_user(session, user_id)


# ---- passwords


@pytest.mark.parametrize(("password", "repeat", "field"), [
    ("kort", "kort", "new_password"),
    ("x" * 201, "x" * 201, "new_password"),
    ("Nina@Example.org", "Nina@Example.org", "new_password"),
    (GOOD, GOOD + "x", "new_password_repeat"),
])
def test_password_rules(password, repeat, field):
    with pytest.raises(InvalidInput) as excinfo:
        users.check_new_password(password, repeat=repeat, email="nina@example.org")
    assert field_of(excinfo) == {field}
    users.check_new_password(GOOD, repeat=GOOD, email="nina@example.org")


def test_change_password_checks_the_current_one_and_counts_wrong_ones(session, factory, now):
    user = factory.user()
    users.set_password(user, "old-password-1", now=now)
    version = users.session_version(user)
    for _ in range(POLICY.max_failures):
        with pytest.raises(InvalidInput) as excinfo:
            users.change_password(session, user=user, current="wrong", new=GOOD, repeat=GOOD, now=now, policy=POLICY)
        assert field_of(excinfo) == {"current_password"}
    assert user.locked_until == now + POLICY.lockout  # guessing through this form locks the account too
    with pytest.raises(InvalidInput, match="låst"):
        users.change_password(session, user=user, current="old-password-1", new=GOOD, repeat=GOOD, now=now,
                              policy=POLICY)
    later = now + POLICY.lockout + timedelta(seconds=1)
    users.change_password(session, user=user, current="old-password-1", new=GOOD, repeat=GOOD, now=later,
                          policy=POLICY)
    assert check_password_hash(user.password_hash, GOOD) and user.password_changed_at == later
    assert users.session_version(user) != version
    assert [e.detail for e in entries(session, action=audit.UPDATE)] == ["password changed"]


def test_reset_password_sets_or_generates_and_unlocks(session, factory, admin, now):
    user = factory.user()
    user.locked_until, user.failed_logins = now + timedelta(minutes=5), 2
    assert users.reset_password(session, user=user, actor=admin, now=now, new=GOOD, repeat=GOOD) is None
    assert check_password_hash(user.password_hash, GOOD) and user.locked_until is None and user.failed_logins == 0
    generated = users.reset_password(session, user=user, actor=admin, now=now)
    assert check_password_hash(user.password_hash, generated)
    assert set(generated) <= set(users.GENERATED_PASSWORD_ALPHABET)
    with pytest.raises(InvalidInput) as excinfo:
        users.reset_password(session, user=user, actor=admin, now=now, new=user.email, repeat=user.email)
    assert field_of(excinfo) == {"new_password"}


# ---- logging in


def attempt(session, email, password, now):
    result = users.log_in(session, email=email, password=password, now=now, policy=POLICY)
    session.commit()
    return result


def test_failures_in_a_row_lock_the_account_until_the_lockout_ends(session, factory, now):
    user = factory.user(email="nina@example.org")
    users.set_password(user, GOOD, now=now)
    session.commit()
    assert attempt(session, " NINA@example.org ", GOOD, now).user == user
    assert user.last_login_at == now
    for _ in range(POLICY.max_failures - 1):
        assert not attempt(session, user.email, "wrong", now).is_locked
    assert attempt(session, user.email, GOOD, now).user == user  # success resets the count
    results = [attempt(session, user.email, "wrong", now) for _ in range(POLICY.max_failures)]
    assert [r.is_locked for r in results] == [False, False, True]
    assert results[-1].locked_until == now + POLICY.lockout and results[-1].minutes_left(now) == 15
    locked = attempt(session, user.email, GOOD, now + timedelta(minutes=14, seconds=30))
    assert locked.user is None and locked.minutes_left(now + timedelta(minutes=14, seconds=30)) == 1
    assert attempt(session, user.email, GOOD, now + POLICY.lockout).user == user
    assert [e.action for e in entries(session, user_id=user.id)] == (
        [audit.LOGIN] + [audit.LOGIN_FAILED] * 2 + [audit.LOGIN] + [audit.LOGIN_FAILED] * 3 + [audit.LOCKOUT]
        + [audit.LOGIN_FAILED, audit.LOGIN])


def test_an_unknown_e_mail_answers_exactly_like_an_account(session, factory, now, monkeypatch):
    """Same sequence of answers and one password-hash check per attempt, so nothing tells them apart."""
    user = factory.user(email="real@example.org")
    users.set_password(user, GOOD, now=now)
    session.commit()
    checks = []
    original = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda h, p: checks.append(h) or original(h, p))
    times = [now, now, now + timedelta(minutes=1), now + timedelta(minutes=2), now + timedelta(minutes=16),
             now + timedelta(minutes=20), now + timedelta(minutes=21), now + timedelta(minutes=40)]

    def answers(email):
        checks.clear()
        found = [(r.user is not None, r.locked_until - at if r.locked_until else None)
                 for at in times for r in [attempt(session, email, "wrong", at)]]
        assert len(checks) == len(times)
        return found

    known, unknown = answers("real@example.org"), answers("nobody@example.org")
    assert unknown == known
    assert [lock is not None for _, lock in known] == [False, False, True, True, False, False, True, False]
    failed = entries(session, user_email="nobody@example.org", action=audit.LOGIN_FAILED)
    assert len(failed) == len(times) and all(e.user_id is None for e in failed)
    assert len(entries(session, user_email="nobody@example.org", action=audit.LOCKOUT)) == 2


def test_a_deactivated_or_passwordless_account_cannot_log_in(session, factory, now):
    user = factory.user()
    users.set_password(user, GOOD, now=now)
    user.is_active = False
    api_only = factory.user()
    session.commit()
    assert attempt(session, user.email, GOOD, now).user is None
    assert attempt(session, api_only.email, "", now).user is None
    assert entries(session, user_id=user.id)[0].detail == "account deactivated"


# ---- API tokens


def test_a_tokens_last_use_is_written_at_most_once_a_minute(session, factory, now):
    user = factory.user()
    token = users.issue_api_token(session, user=user, now=now, actor=user)
    session.commit()
    (row,) = users.api_tokens(session, user=user)
    assert row.last_used_at is None
    assert users.user_for_token(session, token=token, now=now) == user
    assert row.last_used_at == now  # the first use
    session.commit()
    assert users.user_for_token(session, token=token, now=now + timedelta(seconds=59)) == user
    assert not session.dirty and row.last_used_at == now  # nothing to write: a read stays a read
    assert users.user_for_token(session, token=token, now=now + timedelta(minutes=1)) == user
    assert row.last_used_at == now + timedelta(minutes=1)
    assert users.user_for_token(session, token=token, now=now - timedelta(hours=1)) == user
    assert row.last_used_at == now - timedelta(hours=1)  # a clock set back is not ignored


def test_tokens_are_hashed_listed_and_revoked(session, factory, admin, now):
    user = factory.user()
    other = factory.user()
    first = users.issue_api_token(session, user=user, now=now, actor=user)
    second = users.issue_api_token(session, user=user, now=now + timedelta(minutes=1), actor=user)
    users.issue_api_token(session, user=other, now=now, actor=admin)
    rows = users.api_tokens(session, user=user)
    assert [r.created_at for r in rows] == [now + timedelta(minutes=1), now]
    assert all(first not in r.token_hash and second not in r.token_hash for r in session.exec(select(ApiToken)))
    assert users.user_for_token(session, token=first, now=now + timedelta(hours=1)) == user
    assert rows[1].last_used_at == now + timedelta(hours=1)
    with pytest.raises(NotFound):  # one user's token id is not found through another user
        users.api_token_of(session, user=other, token_id=rows[1].id)
    users.revoke_api_token(session, token=users.api_token_of(session, user=user, token_id=rows[1].id),
                           actor=admin, now=now)
    assert users.user_for_token(session, token=first, now=now) is None
    assert users.user_for_token(session, token=second, now=now) == user
    assert [r.id for r in users.api_tokens(session, user=user)] == [rows[0].id]
    with pytest.raises(NotFound):  # revoked: gone from the list and from revoking
        users.api_token_of(session, user=user, token_id=rows[1].id)
    [revoked] = entries(session, action=audit.REVOKE)
    assert (revoked.user_id, revoked.object_type, revoked.object_id) == (admin.id, users.API_TOKEN, str(rows[1].id))
    user.is_active = False
    assert users.user_for_token(session, token=second, now=now) is None
