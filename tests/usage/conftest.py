import datetime
import itertools
import random

import pytest
from django.utils import timezone

from homeconsent.audit.services import record_access
from homeconsent.consent.models import Consent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Person

JST = datetime.timezone(datetime.timedelta(hours=9))
_names = itertools.count(1)


@pytest.fixture
def clock(monkeypatch):
    """The time record_access stamps on a row: set per row, so generated logs span several months."""

    class Clock:
        at = timezone.now()

        def set(self, moment):
            self.at = moment

    fixed = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fixed.at)
    return fixed


@pytest.fixture
def institutions(db):
    # Tokyo medical clinic, Osaka pharmacy, Hokkaido dental clinic: prefecture and type from the code.
    return [
        Institution.objects.create(code=with_check_digit(digits), name=name)
        for digits, name in [("131000011", "港内科"), ("274000022", "なにわ薬局"), ("013000033", "札幌歯科")]
    ]


@pytest.fixture
def people(db):
    def person():
        n = next(_names)
        return Person.objects.create(
            name=f"試験 {n}", name_kana=f"シケン {n}", sex="1", birth_date=datetime.date(1960, 1, 1)
        )

    return [person() for _ in range(5)]


@pytest.fixture
def generate_log(clock, institutions, people):
    """Appends `n` random access-log rows of every kind the code writes (reads by each route, batch
    entries and their results, re-queries, emergency and disaster reads, refusals, patients' own
    views, consents registered and cancelled) at times spread over the months given."""
    consents = {}
    for auth, holders in (("reader", people[:2]), ("app", people[2:4])):
        consents[auth] = [
            Consent.objects.create(
                person=p, institution=i, kind="home_visit", items=["qualification"],
                given_at=timezone.now(), authenticator=auth,
            )
            for p in holders for i in institutions
        ]  # fmt: skip

    def generate(n, months, seed):
        rng = random.Random(seed)
        for _ in range(n):
            year, month = rng.choice(months)
            # Near the ends of the month too: 1st 00:30 JST is the previous month in UTC.
            day, hour = rng.choice([(1, 0), (15, 12), (28, 23)])
            clock.set(datetime.datetime(year, month, day, hour, 30, tzinfo=JST))
            institution = rng.choice(institutions)
            person = rng.choice(people)
            actor = rng.choice(["institution_client", "institution_staff"])
            kind = rng.choice(
                ["reader", "app", "batch", "batch_results", "requery", "emergency", "disaster",
                 "qualification_only", "paper_certificate", "refused", "self", "registered", "cancelled",
                 "operator"]
            )  # fmt: skip
            row = {
                "actor_type": actor, "actor_id": "x", "person": person, "items": ["qualification"],
                "institution_code": institution.code, "basis": "consent",
            }  # fmt: skip
            if kind in ("reader", "app"):
                row["consent_id"] = rng.choice(consents[kind]).pk
                row["detail"] = {"read": "eligibility"}
            elif kind in ("batch", "batch_results"):
                row["consent_id"] = rng.choice(consents["reader"]).pk
                row["detail"] = {"read": kind, "reception_number": "1"}
            elif kind in ("requery", "emergency", "disaster", "qualification_only", "paper_certificate"):
                row["basis"] = kind
                row["detail"] = {"action": f"{kind}_view"} if kind in ("emergency", "disaster") else {}
            elif kind == "refused":
                row["outcome"] = "refused"
            elif kind == "self":
                row.update(actor_type="patient", basis="self", institution_code="")
            elif kind == "operator":
                row.update(actor_type="operator", basis="operator", detail={"action": "admin_view"})
            else:
                row.update(actor_type="patient", basis="self")
                row["detail"] = {"action": f"consent_{kind}"}
            record_access(**row)

    return generate
