"""Demo data so the app is usable at once: hospitals, wards, users, advisors and offer catalogues. Idempotent."""
from __future__ import annotations

from datetime import time

from sqlmodel import Session, select

from ..models import Hospital, Role, Ward
from .offers import load_demo_catalogues
from .reference import load_municipalities
from .users import create_user, set_working_hours

DEMO_PASSWORD = "demo1234"

HOSPITALS = [
    ("Sygehus Sønderjylland, Sønderborg", "DK-83", [("SHS-KIR", "Kirurgisk afdeling"),
                                                    ("SHS-MED", "Medicinsk afdeling")]),
    ("Holbæk Sygehus", "DK-85", [("HOL-MED", "Medicinsk afdeling")]),
    ("Herlev og Gentofte Hospital", "DK-84", [("HGH-GER", "Geriatrisk afdeling")]),
    ("Aalborg Universitetshospital", "DK-81", [("AAUH-MED", "Medicinsk afdeling")]),
    ("Rigshospitalet", "DK-84", [("RH-MED", "Medicinsk klinik")]),
    # a municipal short-term unit books like a ward (the "short_term_home_care" kind of meeting)
    ("Ballerup Kommune, Korttidspladser", "DK-84", [("BAL-KORT", "Korttidsafsnittet Lindehøj")]),
]

SECRETARIES = [
    ("sekretaer.sonderborg@demo.example", "Susanne Sekretær", ["SHS-KIR", "SHS-MED"]),
    ("sekretaer.holbaek@demo.example", "Helle Sekretær", ["HOL-MED"]),
    ("sekretaer.herlev@demo.example", "Hanne Sekretær", ["HGH-GER"]),
    ("sekretaer.aalborg@demo.example", "Anne Sekretær", ["AAUH-MED"]),
    ("sekretaer.rigshospitalet@demo.example", "Rikke Sekretær", ["RH-MED"]),
    ("korttid.ballerup@demo.example", "Karin Korttidsplads", ["BAL-KORT"]),
]

# (municipality, e-mail, name, own working hours or None for the config default)
MORNINGS = {d: [(time(8, 0), time(12, 0))] for d in range(5)}
ADVISORS = [
    ("0540", "sundhed1.sonderborg@demo.example", "Mette Sundhedsvejleder", None),
    ("0540", "sundhed2.sonderborg@demo.example", "Lars Sygeplejerske", MORNINGS),
    ("0306", "sundhed1.odsherred@demo.example", "Karen Sundhedsvejleder", None),
    ("0306", "sundhed2.odsherred@demo.example", "Jens Sygeplejerske", None),
    ("0151", "sundhed1.ballerup@demo.example", "Birgit Sundhedsvejleder", None),
    ("0849", "sundhed1.jammerbugt@demo.example", "Jette Sundhedsvejleder", None),
    ("0849", "sundhed2.jammerbugt@demo.example", "Poul Sygeplejerske", MORNINGS),
    ("0101", "sundhed1.kobenhavn@demo.example", "Sara Sundhedsvejleder", None),
    ("0101", "sundhed2.kobenhavn@demo.example", "Ali Sygeplejerske", None),
]

OTHERS = [  # (e-mail, name, role, region: a coordinator follows her region's municipalities)
    ("koordinator@demo.example", "Kirsten Koordinator", Role.coordinator, "DK-83"),
    ("koordinator.national@demo.example", "Niels Koordinator", Role.coordinator, None),
    ("admin@demo.example", "Anders Administrator", Role.admin, None),
]


def load_demo_data(session: Session) -> list[tuple[str, str]]:
    """Create or update the demo rows; returns (e-mail, role) of the demo logins."""
    load_municipalities(session)
    for hospital_name, region, wards in HOSPITALS:
        hospital = session.exec(select(Hospital).where(Hospital.name == hospital_name)).first() \
            or Hospital(name=hospital_name, region_code=region)
        session.add(hospital)
        session.flush()
        for code, ward_name in wards:
            ward = session.exec(select(Ward).where(Ward.code == code)).first() \
                or Ward(code=code, name=ward_name, hospital_id=hospital.id)
            ward.name, ward.hospital_id = ward_name, hospital.id
            session.add(ward)
    session.flush()
    logins = []
    for email, name, wards in SECRETARIES:
        create_user(session, email=email, name=name, role=Role.secretary, password=DEMO_PASSWORD, ward_codes=wards)
        logins.append((email, Role.secretary.value))
    for municipality, email, name, hours in ADVISORS:
        advisor = create_user(session, email=email, name=name, role=Role.advisor, password=DEMO_PASSWORD,
                              municipality_code=municipality)
        set_working_hours(session, user=advisor, hours=hours or {})
        logins.append((email, Role.advisor.value))
    for email, name, role, region in OTHERS:
        create_user(session, email=email, name=name, role=role, password=DEMO_PASSWORD, region_code=region)
        logins.append((email, role.value))
    load_demo_catalogues(session)
    return logins
