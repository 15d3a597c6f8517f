"""一括照会 (batch pre-check): up to 10,000 search keys in, one result per entry out.

Processed synchronously inside the submitting request, in one transaction: validation, bulk
resolution restricted to the persons with a consent in force at this institution, one access-log
row per entry that resolved a person and one refused row per person matched without one, and the
stored results. Queries do not grow with the number of entries: the registry is read with one `IN`
list per key field (resolve_many_by_keys), consents with one, the access log is written in one go
(audit.services.append_accesses), results as ≤ 11 rows of JSON text (models.JSONTextField) in one
INSERT. On PostgreSQL clinicapi.fastbatch takes the same steps with less Python
(HOMECONSENT_API_BATCH_FAST, on by default; bench/README.md).

Per entry: segment_of_result 1 (processed) with qualification_validity 1–5, or 9 (the keys are not
valid; error_code and the field errors say why). A person without a consent here answers exactly
like no such person: segment 1, validity 4. Results are kept BATCH_RESULT_TTL and fetched by
reception number by the same institution only; each fetch re-checks consent, so an entry whose
consent has since ended reads as validity 4 too, 限度額 info is dropped once the consent in force no
longer includes it, and each disclosed entry is logged again (read "batch_results") per fetch.
"""

import datetime
import secrets

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from homeconsent.audit.models import ActorType, Basis, Outcome
from homeconsent.audit.services import NumberedDetails, append_accesses
from homeconsent.consent.models import ConsentItem
from homeconsent.consent.services import grants_for_read
from homeconsent.errors import ErrorCode
from homeconsent.registry.eligibility import EligibilityResult, Validity
from homeconsent.registry.validation import RegistryValidationError, clean_search_keys
from homeconsent.sqlrows import insert_many

from . import errors, fastbatch, presenters
from .auth import ApiAccess
from .models import BatchInquiry, BatchResultChunk
from .patients import patient_ids_for
from .reads import matched_persons, not_found, tokyo_today

CHUNK_SIZE = 1000
BATCH_RESULT_TTL = datetime.timedelta(days=7)
PURGE_GRACE = datetime.timedelta(hours=1)  # do_purge_expired
KEY_FIELDS = ("insurer_number", "symbol", "number", "branch", "birth_date")
SEGMENT_NORMAL, SEGMENT_ERROR = "1", "9"

BATCH_TOO_MANY_ENTRIES = ErrorCode(
    "batch_too_many_entries",
    "一括照会は1回{limit}件までです（{count}件ありました）。分けて送ってください。",
    "A batch holds at most {limit} entries ({count} were sent); split it.",
)
BATCH_EMPTY = ErrorCode(
    "batch_empty",
    "照会する対象（entries）が1件もありません。",
    "The batch has no entries.",
)
BATCH_ENTRIES_NOT_LIST = ErrorCode(
    "batch_entries_not_list",
    "entries は検索キーの配列にしてください。",
    "entries must be an array of search keys.",
)
ENTRY_NOT_OBJECT = ErrorCode(
    "batch_entry_not_object",
    "この行は検索キー（insurer_number, symbol, number, branch, birth_date）のオブジェクトではありません。",
    "This entry is not an object of search keys (insurer_number, symbol, number, branch, birth_date).",
)
ENTRY_KEYS_INVALID = ErrorCode(
    "batch_entry_keys_invalid",
    "検索キーに誤りがあります（errors を見てください）。",
    "The search keys are not valid (see errors).",
)


def chunks(entries: list) -> list[list]:
    """The stored results' chunks of CHUNK_SIZE entries, in order."""
    return [entries[n : n + CHUNK_SIZE] for n in range(0, len(entries), CHUNK_SIZE)]


def _reception_number() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(20))


def _error_entry(index: int, error, field_errors=()) -> dict:
    return {
        "index": index,
        "segment_of_result": SEGMENT_ERROR,
        "error_code": error.code,
        "error_message": error.message("ja"),
        "error_message_en": error.message("en"),
        "errors": [e.as_dict() for e in field_errors],
    }


def _result_entry(index: int, result: EligibilityResult, patient_id: str | None) -> dict:
    return {
        "index": index,
        "segment_of_result": SEGMENT_NORMAL,
        "error_code": "",
        "patient_id": patient_id,
        **presenters.eligibility_result(result),
    }


def _nobody(index: int, on: datetime.date) -> dict:
    return _result_entry(index, EligibilityResult(validity=Validity.NONE, on=on), None)


def _clean(raw_entries, today):
    keys, invalid = {}, {}
    for index, raw in enumerate(raw_entries):
        _clean_one(index, raw, today, keys, invalid)
    return keys, invalid


def _clean_one(index, raw, today, keys, invalid) -> None:
    """One entry into keys[index] (SearchKeys) or invalid[index] (its error entry)."""
    if not isinstance(raw, dict):
        invalid[index] = _error_entry(index, ENTRY_NOT_OBJECT())
        return
    values = [raw.get(name) for name in KEY_FIELDS]
    if any(v is not None and not isinstance(v, str) for v in values):
        invalid[index] = _error_entry(index, ENTRY_NOT_OBJECT())
        return
    try:
        keys[index] = clean_search_keys(*values, today=today)
    except RegistryValidationError as exc:
        invalid[index] = _error_entry(index, ENTRY_KEYS_INVALID(), exc.errors)


def do_submit(access: ApiAccess, institution, raw_entries, on: datetime.date | None = None) -> BatchInquiry:
    """Validate, resolve, log and store a batch; returns the stored BatchInquiry."""
    if not isinstance(raw_entries, list):
        raise errors.ApiRefusal(BATCH_ENTRIES_NOT_LIST(), 400)
    limit = settings.CLINICAPI_BATCH_MAX_ENTRIES
    if len(raw_entries) > limit:
        raise errors.ApiRefusal(BATCH_TOO_MANY_ENTRIES(limit=limit, count=len(raw_entries)), 413)
    if not raw_entries:
        raise errors.ApiRefusal(BATCH_EMPTY(), 400)
    today = tokyo_today()
    on = on or today
    now = timezone.now()
    fast = fastbatch.enabled()
    keys, entries = (fastbatch.clean if fast else _clean)(raw_entries, today)
    reception_number = _reception_number()
    with transaction.atomic():
        # Every entry validation rejected is an error (9); every other one is processed (1).
        inquiry = BatchInquiry.objects.create(
            reception_number=reception_number,
            institution=institution,
            client_id=access.client_id,
            submitted_at=now,
            reference_date=on,
            entry_count=len(raw_entries),
            normal_count=len(keys),
            error_count=len(entries),
            expires_at=now + BATCH_RESULT_TTL,
        )
        log = BatchLog(access, reception_number, "batch")
        if fast:
            fastbatch.resolve_and_store(access, institution, inquiry, keys, entries, on, log)
        else:
            _resolve(access, institution, keys, entries, on, log)
            insert_many(
                [
                    BatchResultChunk(batch=inquiry, number=n, entries=part)
                    for n, part in enumerate(chunks([entries[i] for i in range(len(raw_entries))]))
                ],
                router.db_for_write(BatchResultChunk),
            )
        log.write()
    return inquiry


def _resolve(access, institution, keys, entries, on, log: "BatchLog") -> None:
    """The general resolution: every entry's result into `entries`, its access-log rows into `log`
    (one per disclosed entry in entry order, then one refused row per matched person without a
    consent here, by person id)."""
    indexes = sorted(keys)
    results, consents, refused = matched_persons(access, [keys[i] for i in indexes], on)
    patient_ids = _patient_ids(institution, results, consents)
    for index, result in zip(indexes, results):
        entries[index] = _entry_of(index, result, consents, patient_ids, log)
    log.refused(refused)


def _patient_ids(institution, results, consents) -> dict:
    """The patient ids of the persons the results disclose, in one cipher call."""
    return patient_ids_for(
        institution.code, {r.person_id for r in results if r.person is not None and r.person_id in consents}
    )


def _entry_of(index, result, consents, patient_ids, log: "BatchLog") -> dict:
    """The result entry of one resolved key; a disclosed one adds its access-log row to `log`."""
    consent = consents.get(result.person_id) if result.person is not None else None
    patient_id = patient_ids[result.person_id] if consent is not None else None
    entry = _result_entry(index, result, patient_id)
    if consent is not None:
        entry["_person"], entry["_consent"] = result.person_id, consent.pk
        log.disclosed(result.person_id, consent.pk, result.limit_included, index)
    return entry


_QUALIFICATION = [ConsentItem.QUALIFICATION.value]
_WITH_LIMIT = [ConsentItem.QUALIFICATION.value, ConsentItem.LIMIT_CERTIFICATE.value]
_OK, _REFUSED = Outcome.OK.value, Outcome.REFUSED.value


class BatchLog:
    """The access-log rows of one submission or fetch, as columns for audit.services.append_accesses
    (one actor, institution and basis; the batch writes up to 10,000 rows at once): a disclosed
    entry's row (qualification, and 限度額 when it was included) and the refused rows."""

    def __init__(self, access: ApiAccess, reception_number: str, read: str):
        self.access, self.reception_number, self.read = access, reception_number, read
        self.persons, self.items, self.consent_ids, self.outcomes, self.indexes = [], [], [], [], []

    def disclosed(self, person_id, consent_id, limit_included: bool, index: int) -> None:
        self.persons.append(person_id)
        self.items.append(_WITH_LIMIT if limit_included else _QUALIFICATION)
        self.consent_ids.append(consent_id)
        self.outcomes.append(_OK)
        self.indexes.append(index)

    def refused(self, person_ids) -> None:
        for person_id in sorted(person_ids):
            self.persons.append(person_id)
            self.items.append(_QUALIFICATION)
            self.consent_ids.append(None)
            self.outcomes.append(_REFUSED)
            self.indexes.append(None)

    @property
    def details(self) -> NumberedDetails:
        """Each row's detail: the read and reception number, and a disclosed entry's index."""
        common = {"read": self.read, "reception_number": self.reception_number}
        return NumberedDetails(common, "index", self.indexes)

    def write(self) -> int:
        return append_accesses(
            actor_type=ActorType.INSTITUTION_CLIENT,
            actor_id=self.access.client_id,
            institution_code=self.access.institution_code,
            basis=Basis.CONSENT,
            persons=self.persons,
            items=self.items,
            consent_ids=self.consent_ids,
            outcomes=self.outcomes,
            details=self.details,
        )


def inquiry_of(access: ApiAccess, reception_number: str) -> BatchInquiry:
    inquiry = BatchInquiry.objects.filter(
        reception_number=str(reception_number)[:20],
        institution__code=access.institution_code,
        expires_at__gt=timezone.now(),
    ).first()
    if inquiry is None:
        raise not_found()
    return inquiry


def do_purge_expired(now: datetime.datetime | None = None) -> tuple[int, int]:
    """Delete the batches whose results have expired (BATCH_RESULT_TTL after submission) with their
    chunks, in one transaction: names, addresses and certificates are not kept past the time they
    may be fetched (`manage.py purge_batches`, daily). Returns (batches, chunks) deleted.

    Only batches expired PURGE_GRACE ago: a fetch that began just before the expiry reads the batch,
    then its chunks, and must not find them gone in between."""
    before = (now or timezone.now()) - PURGE_GRACE
    with transaction.atomic(using=router.db_for_write(BatchInquiry)):
        chunks_deleted, _ = BatchResultChunk.objects.filter(batch__expires_at__lte=before).delete()
        batches_deleted, _ = BatchInquiry.objects.filter(expires_at__lte=before).delete()
    return batches_deleted, chunks_deleted


LIMIT_KEY = "limit_application_certificate_related_info"


def results(access: ApiAccess, reception_number: str, offset: int = 0, limit: int = CHUNK_SIZE):
    """(inquiry, entries[offset:offset+limit]) with consent re-checked for every entry shown.

    A fetch is a read of each person shown, so it is checked and logged like one: qualification
    needs a consent in force now, 限度額 info stays only while that consent still includes it, and
    every disclosed entry gets an access-log row, all in the fetch's transaction. Queries do not
    grow with the page: one consent query, one bulk log write."""
    with transaction.atomic():
        inquiry = inquiry_of(access, reception_number)
        first, last = offset // CHUNK_SIZE, (offset + limit - 1) // CHUNK_SIZE
        entries = []
        for chunk in BatchResultChunk.objects.filter(batch=inquiry, number__range=(first, last)).order_by(
            "number"
        ):
            entries.extend(chunk.entries)
        start = offset - first * CHUNK_SIZE
        entries = entries[start : start + limit]
        persons = {e["_person"] for e in entries if "_person" in e}
        allowed = grants_for_read(access.institution_code, persons, ConsentItem.QUALIFICATION)
        shown, log = [], BatchLog(access, inquiry.reception_number, "batch_results")
        for entry in entries:
            person_id = entry.get("_person")
            if person_id is not None and person_id not in allowed:
                entry = _nobody(entry["index"], inquiry.reference_date)
            elif person_id is not None:
                consent = allowed[person_id]
                if LIMIT_KEY in entry and ConsentItem.LIMIT_CERTIFICATE not in consent.items:
                    entry = {k: v for k, v in entry.items() if k != LIMIT_KEY}  # no longer consented
                log.disclosed(person_id, consent.pk, LIMIT_KEY in entry, entry["index"])
            shown.append({k: v for k, v in entry.items() if not k.startswith("_")})
        log.write()
    return inquiry, shown
