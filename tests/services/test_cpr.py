from datetime import date

import pytest

from scheduler.services.cpr import birth_date, mask_cpr, normalize_cpr

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("text, expected", [
    ("010150-1234", "0101501234"),
    ("0101501234", "0101501234"),
    (" 241224-4000 ", "2412244000"),
])
def test_accepts_with_or_without_hyphen(text, expected):
    assert normalize_cpr(text, today=TODAY) == expected


def test_modulus_11_failure_is_accepted():
    # 010150-1235 fails modulus 11 but is a valid shape and date: never reject on modulus 11
    assert normalize_cpr("010150-1235", today=TODAY) == "0101501235"


@pytest.mark.parametrize("cpr, year", [
    ("0101001000", 1900), ("0101364000", 2036), ("0101374000", 1937), ("0101575000", 2057),
    ("0101585000", 1858), ("0101369000", 2036), ("0101379000", 1937),
])
def test_century_from_digit_seven(cpr, year):
    assert birth_date(cpr).year == year


@pytest.mark.parametrize("text", ["12345", "0101501234x", "01-01-50-1234", "3201501234", "2902011234",
                                  "0101275000"])
def test_rejects_bad_shape_impossible_or_future_date(text):
    with pytest.raises(ValueError):
        normalize_cpr(text, today=TODAY)


def test_mask_keeps_only_the_birth_date():
    assert mask_cpr("0101501234") == "010150-****"
    assert mask_cpr(None) is None
