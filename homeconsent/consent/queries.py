"""Queries over consents shared by the institution side: the institutions' API (clinicapi/reads.py)
and the institution console (clinicapi/console/reads.py) list an institution's consented patients
with this one query. Reads only: callers write the access-log rows of what they then show, each
under its own actor, in the same transaction.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from .models import Consent, ConsentKind
from .services import consents_of_institution

# The kinds an institution lists as its patients (qualification-only and disaster are not a care relation).
LISTED_KINDS = (ConsentKind.HOME_VISIT, ConsentKind.TELEHEALTH)
# Which consents a list holds: those in force now, those ended, or both.
LIST_STATUSES = ("in_force", "ended", "all")


@dataclass
class ConsentedPatients:
    consents: list[Consent]  # newest first; each with .in_force (True: the person may be shown)
    more: bool  # more rows follow the last one
    at: datetime.datetime
    total: int | None = None  # rows matching the filters across all pages (count=True)


def consented_patients(
    institution,
    *,
    kind=None,
    given_from=None,
    given_to=None,
    visit_from=None,
    visit_to=None,
    status="in_force",
    after=None,
    limit=100,
    now=None,
    count=False,
) -> ConsentedPatients:
    """One page of an institution's home-visit and telehealth consents, newest consent first (stable
    order: given_at, then id, both descending; `after` is the last row's (given_at, id)).

    Only a consent in force at `now` discloses its person (`in_force` True); an ended one keeps its
    own terms and nothing personal. Call it inside the transaction that logs what is shown. count=True
    also counts the matching rows across all pages (one COUNT query; the FHIR Bundle.total).
    """
    now = now or timezone.now()
    consents = consents_of_institution(
        institution,
        kind or None,
        given_from=given_from,
        given_to=given_to,
        visit_from=visit_from,
        visit_to=visit_to,
    ).filter(kind__in=LISTED_KINDS)
    if status != "all":
        in_force = consents_of_institution(institution, on=now).values("pk")
        consents = (
            consents.filter(pk__in=in_force) if status == "in_force" else consents.exclude(pk__in=in_force)
        )
    total = consents.count() if count else None
    if after is not None:
        given_at, pk = after
        consents = consents.filter(given_at__lt=given_at) | consents.filter(given_at=given_at, pk__lt=pk)
    rows = list(consents.order_by("-given_at", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    shown = set(
        consents_of_institution(institution, on=now)
        .filter(pk__in=[c.pk for c in rows])
        .values_list("pk", flat=True)
    )
    for consent in rows:
        consent.in_force = consent.pk in shown
    return ConsentedPatients(rows, more, now, total)
