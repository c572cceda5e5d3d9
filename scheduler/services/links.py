"""Personal answer links: signed, expiring, one per participant (nothing to store, nothing to guess)."""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import N_, DomainError
from ..models import Participant


class BadLink(DomainError):
    status_code = 400


class ExpiredLink(DomainError):
    status_code = 410


@dataclass(frozen=True)
class AnswerLinks:
    secret_key: str
    base_url: str
    max_age_days: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="participant-answer")

    def token_for(self, participant: Participant) -> str:
        return self._serializer().dumps({"p": participant.id, "m": participant.meeting_id})

    def url_for(self, participant: Participant) -> str:
        return f"{self.base_url}/answer/{self.token_for(participant)}"

    def read(self, token: str) -> tuple[int, int]:
        """(participant id, meeting id) of a valid token; BadLink or ExpiredLink otherwise."""
        try:
            data = self._serializer().loads(token, max_age=self.max_age_days * 86400)
        except SignatureExpired:
            raise ExpiredLink(N_("Linket er udløbet. Kontakt afdelingen, der har booket mødet.")) from None
        except BadSignature:
            raise BadLink(N_("Linket er ugyldigt. Brug linket fra den nyeste e-mail.")) from None
        if not isinstance(data, dict) or not isinstance(data.get("p"), int) or not isinstance(data.get("m"), int):
            raise BadLink(N_("Linket er ugyldigt. Brug linket fra den nyeste e-mail."))
        return data["p"], data["m"]
