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


def _passes_modulus_11(cpr: str) -> bool:
    return sum(int(d) * w for d, w in zip(cpr, (4, 3, 2, 7, 6, 5, 4, 3, 2, 1))) % 11 == 0


@pytest.mark.parametrize("text", ["010150-1234", "2902964321", "311299-4999", "0101015001", "150595-9998"])
def test_numbers_failing_modulus_11_are_accepted(text):
    cpr = text.replace("-", "")
    assert not _passes_modulus_11(cpr)  # the test data really fails the old check
    assert normalize_cpr(text, today=TODAY) == cpr


def test_a_number_passing_modulus_11_is_accepted_too():
    assert _passes_modulus_11("0707614285") and normalize_cpr("070761-4285", today=TODAY) == "0707614285"


@pytest.mark.parametrize("cpr, born", [
    # digit 7 is 0-3: always 1900-1999
    ("0101000000", date(1900, 1, 1)), ("3112993999", date(1999, 12, 31)),
    # 4 and 9: 2000-2036 for 00-36, else 1937-1999
    ("3112364000", date(2036, 12, 31)), ("0101374999", date(1937, 1, 1)),
    ("0101009000", date(2000, 1, 1)), ("3112999999", date(1999, 12, 31)),
    # 5-8: 2000-2057 for 00-57, else 1858-1899
    ("0101575000", date(2057, 1, 1)), ("0101588999", date(1858, 1, 1)), ("3112998000", date(1899, 12, 31)),
])
def test_century_edges(cpr, born):
    assert birth_date(cpr) == born


@pytest.mark.parametrize("text, valid", [
    ("290200-4000", True),   # 2000 is a leap year (digit 7 = 4, year 00)
    ("290200-0000", False),  # 1900 is not (digit 7 = 0)
    ("290296-1234", True),   # 1996
    ("290297-1234", False),  # 1997
    ("290224-4321", True),   # 2024
    ("290258-5000", False),  # 1858 (digit 7 = 5, year 58) is not a leap year
    ("290260-5000", True),   # 1860 is
])
def test_29_february_only_in_leap_years(text, valid):
    if valid:
        assert normalize_cpr(text, today=TODAY) == text.replace("-", "")
    else:
        with pytest.raises(ValueError, match="gyldig fødselsdato"):
            normalize_cpr(text, today=TODAY)


def test_birth_today_is_accepted_tomorrow_is_in_the_future():
    assert normalize_cpr("231126-4000", today=TODAY) == "2311264000"
    with pytest.raises(ValueError, match="fremtiden"):
        normalize_cpr("241126-4000", today=TODAY)
    with pytest.raises(ValueError, match="fremtiden"):
        normalize_cpr("010136-4000", today=TODAY)  # digit 7 = 4 makes 36 the year 2036
    assert birth_date("0101361000").year == 1936  # ... while digit 7 = 1 makes it 1936


@pytest.mark.parametrize("text", [
    "010150+1234", "010150 1234", "010150--1234", "01015-01234", "0101501234-", "01015012345", "010150123",
    "٠١٠١٥٠١٢٣٤",  # Arabic-Indic digits are digits to Python's \d, but not a CPR number
    "０１０１５０１２３４",  # full-width digits
    "", "-",
])
def test_only_ten_ascii_digits_with_an_optional_hyphen_after_six(text):
    with pytest.raises(ValueError, match="10 cifre"):
        normalize_cpr(text, today=TODAY)


@pytest.mark.parametrize("text", ["000150-1234", "320150-1234", "010050-1234", "011350-1234", "310450-1234"])
def test_impossible_dates_are_rejected(text):
    with pytest.raises(ValueError, match="gyldig fødselsdato"):
        normalize_cpr(text, today=TODAY)
