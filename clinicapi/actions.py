"""The institutions' API's state changes (reads.py holds the reads): cancellation by the institution,
which goes through consent.services (its access-log row in the same transaction); and the refusal of
a medical read at a qualification-only site, logged before it is answered."""

from django.db import transaction
from django.utils import timezone

from homeconsent.audit.models import ActorType, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.consent.models import Consent, ConsentEndedBy
from homeconsent.consent.services import consents_of_institution, do_cancel_all, do_cancel_consent
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Person

from . import errors
from .auth import ApiAccess
from .patients import person_id_from
from .reads import not_found
from .scopes import SCOPES


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


def do_refuse_medical_read(access: ApiAccess, institution, patient_id: str, item: str) -> errors.ApiRefusal:
    """A medical read (medication, treatment, checkup) by a qualification-only institution
    (資格確認限定型): the refusal, logged in its own transaction (the caller raises it). The answer is
    the same whoever the patient is, so it tells nothing about them; the row goes to the person's own
    access log when the patient id names one, else it is the institution's."""
    person_id = person_id_from(access.institution_code, patient_id)
    person = Person.objects.filter(pk=person_id).first() if person_id is not None else None
    item_ja, item_en = SCOPES[f"{item}.read"].split(" / ")
    error = errors.MEDICAL_READ_QUALIFICATION_ONLY(
        institution=institution.name, item=item_ja, item_en=item_en
    )
    with transaction.atomic():
        record_access(
            actor_type=ActorType.INSTITUTION_CLIENT,
            actor_id=access.client_id,
            institution_code=access.institution_code,
            person=person,
            items=[item],
            basis=Basis.QUALIFICATION_ONLY,
            outcome=Outcome.REFUSED,
            detail={"read": item, "refusal": error.code},
        )
    return errors.ApiRefusal(error, 403)
