"""The kinds of meeting the product books, each with its own title, length and parties.

- discharge: hospital ward -> municipal health advisor, with the patient; offers are presented.
- short_term_home_care: a municipal short-term unit (korttidsplads, booked as a "ward") -> home
  care (the receiving municipal staff, as advisors), with the citizen going home (as in Ballerup).
- cross_sector: leaders and staff of hospital and municipality, no patient; booked as a series.
Which kinds a deployment offers and their lengths come from config ([meeting_types]).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import N_


@dataclass(frozen=True)
class MeetingType:
    key: str
    title: str  # msgid: invite SUMMARY, e-mail subjects, pages (never more than this: no health details)
    sender: str  # msgid: who books (the staff side)
    receiver: str  # msgid: the municipal side who joins by video
    with_patient: bool
    presents_offers: bool
    series: bool = False


DISCHARGE = "discharge"
SHORT_TERM_HOME_CARE = "short_term_home_care"
CROSS_SECTOR = "cross_sector"

TYPES: dict[str, MeetingType] = {
    DISCHARGE: MeetingType(DISCHARGE, N_("Udskrivningssamtale (video)"), N_("Hospitalsafdeling"),
                           N_("Sundhedsrådgiver"), with_patient=True, presents_offers=True),
    SHORT_TERM_HOME_CARE: MeetingType(SHORT_TERM_HOME_CARE, N_("Overgang fra korttidsplads til hjemmepleje (video)"),
                                      N_("Korttidsplads"), N_("Hjemmepleje"), with_patient=True,
                                      presents_offers=False),
    CROSS_SECTOR: MeetingType(CROSS_SECTOR, N_("Tværsektorielt møde (video)"), N_("Hospital"), N_("Kommune"),
                              with_patient=False, presents_offers=False, series=True),
}


def meeting_type(key: str) -> MeetingType:
    """The type of a stored meeting; an unknown key (a type removed from the code) reads as discharge."""
    return TYPES.get(key, TYPES[DISCHARGE])
