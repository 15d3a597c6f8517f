"""The console's state changes (reads.py holds the reads): the end date an institution sets.
Each goes through consent.services, which writes its access-log row in the same transaction."""

from homeconsent.consent import services
from homeconsent.consent.models import Consent

from . import reads


def do_set_consent_end(staff, consent_id, until) -> Consent:
    """Bring the end of a home-visit consent given to this institution forward (never later; issue 4:
    the institution may set an end date). Refusals are HomeConsentError (services.do_set_consent_end)."""
    listed = reads.consent_of(staff, consent_id)
    return services.do_set_consent_end(
        listed, until, institution=staff.institution, actor_id=reads.actor_id(staff)
    )
