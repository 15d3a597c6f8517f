"""The institutions' API's state changes (reads.py holds the reads): cancellation by the institution.
Each goes through consent.services, which writes its access-log row in the same transaction."""

from django.utils import timezone

from homeconsent.audit.models import ActorType
from homeconsent.consent.models import Consent, ConsentEndedBy
from homeconsent.consent.services import consents_of_institution, do_cancel_all, do_cancel_consent
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Person

from .auth import ApiAccess
from .patients import person_id_from
from .reads import not_found


def do_cancel(access: ApiAccess, institution, patient_id: str, kind=None) -> list[Consent]:
    """Cancel this institution's consent(s) in force for a patient: one kind, or all of them.
    Written by consent.services (with its own access-log row); nothing in force answers 404."""
    person_id = person_id_from(access.institution_code, patient_id)
    if person_id is None:
        raise not_found()
    common = {
        "by": ConsentEndedBy.INSTITUTION,
        "institution": institution,
        "actor_type": ActorType.INSTITUTION_CLIENT,
        "actor_id": access.client_id,
    }
    if kind is None:
        person = Person.objects.filter(pk=person_id).first()
        cancelled = do_cancel_all(person, **common) if person is not None else []
        if not cancelled:
            raise not_found()
        return cancelled
    # Every consent of the kind in force: telehealth has one per booked visit.
    cancelled = []
    for consent in consents_of_institution(institution, kind, on=timezone.now()).filter(person_id=person_id):
        try:
            cancelled.append(do_cancel_consent(consent, **common))
        except HomeConsentError:  # ended between the lookup and the lock: as if never there
            continue
    if not cancelled:
        raise not_found()
    return cancelled
