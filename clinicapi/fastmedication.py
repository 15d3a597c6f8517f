"""The medication read as one database call on PostgreSQL (the API's second hot read).

GET /api/v1/patients/{id}/medication is what an institution's system pulls before each visit. On
PostgreSQL it takes the eligibility check's path (clinicapi.fastcheck, whose module docstring has
the reasoning): one PL/pgSQL function, installed by migration 0004 and named after the hash of its
text, checks the token with its client and institution (expiry, revocation, the medication.read
scope, not a qualification-only institution), the patient id's institution, the consent in force
covering medication (consents_for_read's rule, asked on every call, never cached), reads the
records of the clipped range in the general path's order with their dispensing and prescribing
institutions, and writes the access-log row with its chain head (detail read/start/end/count as
reads._log writes it; content and hash computed in SQL), all committed by that one statement.
Python builds the body with the general path's presenter and renderer.

The query string is read only in the plain forms MedicationQuery accepts (month_from, month_to as
YYYY-MM, source one of the three, each at most once, no escapes); anything else, every answer the
function does not give as "ok" (it wrote nothing then), the FHIR routes and SQLite go to the general
DRF view, so every refusal is the general path's own. tests/clinicapi/test_fastmedication.py pins
answers, refusals and log rows of both paths to each other over a generated population.
"""

import re

from django.conf import settings

from homeconsent.audit.models import AccessEvent, ChainHead
from homeconsent.consent.models import Consent, ConsentItem
from homeconsent.dates import query_month
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution, MedicationRecord, MedicationSource
from homeconsent.sqlrows import Columns

from . import errors, fastcheck, presenters, reads
from .fastcheck import (
    FastRead,
    OneCall,
    consent_columns,
    consent_sql,
    constant_detail,
    date_detail,
    declarations,
    integer_detail,
    log_row_sql,
    token_sql,
)
from .models import AccessToken, ApiClient

SCOPE = "medication.read"
ITEM = str(ConsentItem.MEDICATION)
_RECORD = Columns(MedicationRecord)
_INSTITUTION = Columns(Institution)
if not _INSTITUTION.fields[0].primary_key:
    raise RuntimeError("Institution's first column is not its id: update fastmedication._record")
_QUERY_NAMES = ("month_from", "month_to", "source")
_PLAIN_VALUE = re.compile(r"[0-9A-Za-z_-]{1,16}")


def _order_sql(connection, alias: str) -> str:
    """reads.MEDICATION_ORDER as SQL: the general path's order, from the same names."""
    q = connection.ops.quote_name
    terms = []
    for name in reads.MEDICATION_ORDER:
        field = (
            MedicationRecord._meta.pk
            if name.lstrip("-") == "pk"
            else MedicationRecord._meta.get_field(name.lstrip("-"))
        )
        terms.append(f"{q(alias)}.{q(field.column)}{' DESC' if name.startswith('-') else ''}")
    return ", ".join(terms)


def _function(connection) -> tuple[str, str]:
    """(RETURNS TABLE columns, body) of the read's function."""
    q = connection.ops.quote_name

    def col(name):
        return q(MedicationRecord._meta.get_field(name).column)

    consent_cols, consent_values, consent_nulls = consent_columns(connection)
    record_cols = [(f"m{i}", f.cast_db_type(connection)) for i, f in enumerate(_RECORD.fields)]
    institution_cols = [
        (f"{side}{i}", f.cast_db_type(connection))
        for side in ("d", "p")
        for i, f in enumerate(_INSTITUTION.fields)
    ]
    rows_cols = record_cols + institution_cols
    returns = ", ".join(
        ["o_status text", "o_client text", "o_event bigint"]
        + [f"{n} {typ}" for n, typ in consent_cols + rows_cols]
    )
    rows_nulls = ", ".join(f"NULL::{typ}" for _, typ in rows_cols)
    records, institutions = q(MedicationRecord._meta.db_table), q(Institution._meta.db_table)
    dispensing, prescribing = reads.MEDICATION_RELATED
    detail = {
        "read": constant_detail(ITEM),
        "start": date_detail("p_start"),
        "end": date_detail("p_end"),
        "count": integer_detail("v_count"),
    }
    body = f"""
#variable_conflict use_column
DECLARE
    {declarations(connection)}
    v_count bigint;
BEGIN
    {token_sql(connection, SCOPE, medical=True)}
    {consent_sql(connection, ITEM)}
    -- The records of the range with their institutions: reads._medical_read's query, in its order.
    RETURN QUERY SELECT NULL::text, NULL::text, NULL::bigint, {consent_nulls},
           {_RECORD.sql("m", connection)}, {_INSTITUTION.sql("d", connection)}, {_INSTITUTION.sql("p", connection)}
      FROM {records} m LEFT JOIN {institutions} d ON d.id = m.{col(dispensing)}
      LEFT JOIN {institutions} p ON p.id = m.{col(prescribing)}
     WHERE m.{col("person")} = p_person AND m.{col("dispensed_on")} >= p_start AND m.{col("dispensed_on")} <= p_end
       AND (p_source IS NULL OR m.{col("source")} = p_source)
     ORDER BY {_order_sql(connection, "m")};
    GET DIAGNOSTICS v_count = ROW_COUNT;
    {log_row_sql(connection, fastcheck.json_literal([ITEM]), detail)}
    -- Last, the consent (the count is known once the rows are out).
    RETURN QUERY SELECT 'ok'::text, v_client, v_event, {consent_values}, {rows_nulls};
END;
"""
    return returns, body


MEDICATION = OneCall(
    "clinicapi_medication_read_",
    "p_token_hash text, p_code numeric, p_person bigint, p_start date, p_end date, p_source text, "
    "p_now timestamptz, p_chains integer",
    _function,
    "medication reads",
    (AccessToken, ApiClient, Institution, Consent, MedicationRecord, AccessEvent, ChainHead),
    setting="CLINICAPI_FAST_CHECK",
)


def asked(query_string: str):
    """(month_from, month_to, source, start, end) of a query string in the plain forms
    MedicationQuery reads, with the range the read covers; None sends the request to the general
    path (an unusual form, a value it refuses, a reversed range)."""
    found = {}
    for part in query_string.split("&") if query_string else ():
        name, equals, value = part.partition("=")
        if not equals or name not in _QUERY_NAMES or name in found or not _PLAIN_VALUE.fullmatch(value):
            return None
        found[name] = value
    source = found.get("source")
    if source is not None and source not in MedicationSource.values:
        return None
    try:
        month_from, month_to = (
            query_month(found[name], name) if name in found else None for name in ("month_from", "month_to")
        )
        if month_from and month_to and month_from > month_to:
            return None  # MedicationQuery's 400
        start, end = reads.medication_window(month_from, month_to)
    except (HomeConsentError, errors.ApiRefusal):
        return None
    return month_from, month_to, source, start, end


def parameters(token_hash, code, person_id, asked, now) -> list:
    _, _, source, start, end = asked
    return [token_hash, code, person_id, start, end, source, now, settings.AUDIT_CHAINS]


def _record(row, connection, at: int):
    record = _RECORD.instance(row, connection, at)
    at += len(_RECORD)
    for name in reads.MEDICATION_RELATED:
        # A missing institution comes back as NULLs: its id is the first column.
        related = _INSTITUTION.instance(row, connection, at) if row[at] is not None else None
        setattr(record, name, related)
        at += len(_INSTITUTION)
    return record


def answer_body(rows, connection, client_id: str, patient_id: str, asked, now) -> bytes | None:
    """The JSON answer built from the function's rows, as the general path builds it; None when the
    function did not answer "ok" (it wrote nothing: the general path decides and answers)."""
    if not rows or rows[-1][0] != "ok":
        return None
    if rows[-1][1] != client_id:
        return None  # cannot happen (a token belongs to one client); never count another's bucket
    month_from, _, _, start, end = asked
    consent = fastcheck.CONSENT_COLUMNS.instance(rows[-1], connection, 3)
    at = 3 + len(fastcheck.CONSENT_COLUMNS)
    records = [_record(row, connection, at) for row in rows[:-1]]
    read = reads.MedicalRead(
        patient_id, consent, reads.medication_from(start, month_from), end, records, at=now
    )
    return fastcheck.RENDERER.render(presenters.medication(read))


MEDICATION_READ = FastRead(MEDICATION, asked, parameters, answer_body)
