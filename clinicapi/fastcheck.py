"""The eligibility check as one database call on PostgreSQL (the API's hot read).

GET /api/v1/patients/{id}/eligibility is the read an institution's system repeats all day. Through
Django and DRF it costs five statements, seven round trips and several milliseconds of Python; at
1,000 checks a second on two cores a check may cost about 2 ms of CPU in all. So on PostgreSQL the
whole check runs inside the database as one PL/pgSQL function (installed by a migration, named
after the hash of its text): the token with its client and institution (expiry, revocation of
either, the scope), the consent in force (reads.consent_for_read's rule, asked on every call,
never cached), the registry read (the same UNION ALL registry.eligibility runs), the validity of
the answer, and the access-log row with its chain head (audit.services.record_access's canonical
content and hash, computed in SQL), committed together by that one statement. Python then builds
the answer from the rows it returned with the very code the general path uses (registry
.eligibility's resolution, clinicapi.presenters, DRF's JSON renderer).

Only the plain, successful check takes this path. Whenever the function does not answer "ok" (bad
or revoked token, missing scope, another institution's patient id, no consent in force) it has
written nothing, and the request goes to the general DRF view, which decides and answers it: so
every refusal is the general path's own. So do requests with a query string, an Accept the JSON
renderer does not answer alone, the FHIR route, other back ends (SQLite keeps the general path),
and a client this process has not seen yet (its rate-limit bucket is keyed by client id, learnt
from the general path's first answer; it is a key, never an authorization). The per-client throttle
is applied before the call exactly as DRF applies it. tests/clinicapi/test_fastcheck.py pins the
answers, refusals and log rows of both paths to each other over a generated population.

The medication read takes the same path (clinicapi.fastmedication). What the two share lives here:
the token, consent and log-row pieces of the PL/pgSQL text, and the serving (FastRead, answer(),
fast_or(): the throttle, the client key, the hand-over to the general view). The function machinery
itself (OneCall: named by the hash of its text, installed, called) is homeconsent.sqlfunctions'.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import ProgrammingError, connections, router
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer

from homeconsent.audit.canonical import FORMAT_VERSION, GENESIS, canonical_bytes, content_sql
from homeconsent.audit.models import AccessEvent, ActorType, Basis, ChainHead, Outcome
from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentItem, ConsentStatus
from homeconsent.registry import eligibility as registry_eligibility
from homeconsent.registry.models import Institution, Qualification
from homeconsent.sqlfunctions import OneCall, undefined_function
from homeconsent.sqlfunctions import literal as _lit
from homeconsent.sqlrows import Columns, table

from . import presenters
from .auth import _token_hash
from .authentication import ClientRateThrottle
from .models import AccessToken, ApiClient
from .patients import decode_patient_id
from .reads import EligibilityRead

SCOPE = "qualification.read"
READ = "eligibility"
# Accept values the general path answers with its first renderer (JSON) whatever else it offers.
JSON_ACCEPTS = {"", "*/*", "application/json"}
CONSENT_COLUMNS = Columns(Consent, exclude=("signature",))


def json_literal(value) -> str:
    """The canonical JSON text of a constant (audit.canonical's encoding), as a SQL literal."""
    return _lit(canonical_bytes(value).decode("utf-8"))


# --- the pieces every one-call read shares (the medication read's too: clinicapi.fastmedication) ---
def _col(connection, model, name) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def consent_columns(connection) -> tuple[list, str, str]:
    """The consent's output columns [(name, type)], its values from v_c, and typed NULLs for them."""
    cols = [(f"c{i}", f.cast_db_type(connection), f.column) for i, f in enumerate(CONSENT_COLUMNS.fields)]
    q = connection.ops.quote_name
    values = ", ".join(f"v_c.{q(column)}" for _, _, column in cols)
    nulls = ", ".join(f"NULL::{typ}" for _, typ, _ in cols)
    return [(n, typ) for n, typ, _ in cols], values, nulls


def declarations(connection) -> str:
    """The variables of the token, consent and log-row pieces below."""
    return f"""
    v_client text; v_inst text; v_scopes jsonb; v_qualification_only boolean;
    v_token_revoked timestamptz; v_client_revoked timestamptz; v_expires timestamptz;
    v_c {table(Consent, connection)}%ROWTYPE;
    v_chain integer; v_seq bigint; v_head text; v_prev text; v_hash text; v_items text; v_occurred text;
    v_event bigint;"""


def token_sql(connection, scope: str, *, medical: bool = False) -> str:
    """The token with its client and institution (clinicapi.auth.authenticate_token), the scope, and
    the patient id's institution (patients.person_id_from: p_code); a medical read also stops at a
    qualification-only institution (data_views.MedicalDataView refuses and logs that itself)."""
    t, col = (lambda m: table(m, connection)), (lambda m, n: _col(connection, m, n))
    medical_check = (
        "IF v_qualification_only THEN\n        o_status := 'qualification_only'; RETURN NEXT; RETURN;\n    END IF;"
        if medical
        else ""
    )
    return f"""
    SELECT c.{col(ApiClient, "client_id")}, t.{col(AccessToken, "institution_code")}, t.{col(AccessToken, "scopes")},
           t.{col(AccessToken, "revoked_at")}, c.{col(ApiClient, "revoked_at")}, t.{col(AccessToken, "expires_at")},
           i.{col(Institution, "qualification_only")}
      INTO v_client, v_inst, v_scopes, v_token_revoked, v_client_revoked, v_expires, v_qualification_only
      FROM {t(AccessToken)} t JOIN {t(ApiClient)} c ON c.id = t.{col(AccessToken, "client")}
      JOIN {t(Institution)} i ON i.id = c.{col(ApiClient, "institution")}
     WHERE t.{col(AccessToken, "token_hash")} = p_token_hash;
    IF NOT FOUND OR v_token_revoked IS NOT NULL OR v_client_revoked IS NOT NULL OR p_now >= v_expires THEN
        o_status := 'token'; RETURN NEXT; RETURN;
    END IF;
    {medical_check}
    IF jsonb_typeof(v_scopes) <> 'array' OR NOT (v_scopes ? {_lit(scope)}) THEN
        o_status := 'scope'; RETURN NEXT; RETURN;
    END IF;
    -- The patient id names a person for this token's institution only (patients.person_id_from).
    IF v_inst !~ '^[0-9]+$' OR v_inst::numeric <> p_code THEN
        o_status := 'patient'; RETURN NEXT; RETURN;
    END IF;"""


def consent_sql(connection, item: str) -> str:
    """The consent in force now that covers `item`, into v_c: consent.services.consents_for_read."""
    t, col = (lambda m: table(m, connection)), (lambda m, n: _col(connection, m, n))
    C = t(Consent)
    return f"""
    SELECT c.* INTO v_c FROM {C} c JOIN {t(Institution)} i ON i.id = c.{col(Consent, "institution")}
     WHERE i.{col(Institution, "code")} = v_inst AND c.{col(Consent, "person")} = p_person
       AND c.{col(Consent, "given_at")} <= p_now
       AND (c.{col(Consent, "available_until")} IS NULL OR c.{col(Consent, "available_until")} > p_now)
       AND ((c.{col(Consent, "ended_at")} IS NULL AND c.{col(Consent, "status")} = {_lit(str(ConsentStatus.ACTIVE))})
            OR c.{col(Consent, "ended_at")} > p_now)
       AND c.{col(Consent, "items")} ? {_lit(item)}
     ORDER BY (c.{col(Consent, "visit_date")} IS NOT NULL), c.{col(Consent, "visit_date")},
              c.{col(Consent, "given_at")} DESC, c.id DESC
     LIMIT 1;
    IF NOT FOUND THEN
        o_status := 'consent'; RETURN NEXT; RETURN;
    END IF;"""


def date_detail(expression: str) -> tuple[str, str]:
    """A date of the log row's detail as (its canonical JSON text, its jsonb value): YYYY-MM-DD."""
    text = f"to_char({expression}, 'YYYY-MM-DD')"
    return f"'\"' || {text} || '\"'", text


def constant_detail(value: str) -> tuple[str, str]:
    return json_literal(value), _lit(value)


def integer_detail(expression: str) -> tuple[str, str]:
    return f"({expression})::text", expression


def log_row_sql(connection, items: str, detail: dict) -> str:
    """The access-log row of a read under the consent v_c and its chain head, as
    audit.services.record_access writes them: the canonical content (audit.canonical.content_sql,
    as the bulk append builds it) and its hash computed here. `items` is SQL giving the items' canonical
    JSON text; `detail` maps each key to (canonical JSON text, jsonb value) as SQL. Sets v_event."""
    H, E = table(ChainHead, connection), table(AccessEvent, connection)
    keys = sorted(detail)
    detail_text = " || ',' || ".join(f"'\"{_plain(key)}\":' || {detail[key][0]}" for key in keys)
    detail_value = ", ".join(f"{_lit(key)}, {detail[key][1]}" for key in keys)
    content = " || ".join(
        content_sql(
            {
                "actor_id": "to_json(v_client)::text",
                "actor_type": json_literal(str(ActorType.INSTITUTION_CLIENT)),
                "basis": json_literal(str(Basis.CONSENT)),
                "chain": "v_chain::text",
                "consent_id": "to_json(v_c.id::text)::text",
                "detail": f"'{{' || {detail_text} || '}}'",
                "institution_code": "to_json(v_inst)::text",
                "items": "v_items",
                "occurred_at": "'\"' || v_occurred || '\"'",
                "outcome": json_literal(str(Outcome.OK)),
                "person_id": "p_person::text",
                "prev_hash": "'\"' || v_prev || '\"'",
                "seq": "v_seq::text",
                "v": json_literal(FORMAT_VERSION),
            }
        )
    )
    return f"""
    v_chain := (p_person % p_chains)::integer;
    SELECT seq, head_hash INTO v_seq, v_head FROM {H} WHERE chain = v_chain FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO {H} (chain, seq, head_hash) VALUES (v_chain, 0, '') ON CONFLICT DO NOTHING;
        SELECT seq, head_hash INTO v_seq, v_head FROM {H} WHERE chain = v_chain FOR UPDATE;
    END IF;
    v_prev := CASE WHEN v_seq = 0 THEN {_lit(GENESIS)} ELSE v_head END;
    v_seq := v_seq + 1;
    v_items := {items};
    v_occurred := to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00';
    v_hash := encode(sha256(convert_to({content}, 'UTF8')), 'hex');
    INSERT INTO {E} (chain, seq, occurred_at, actor_type, actor_id, institution_code, person_id, items, basis,
                     outcome, consent_id, detail, prev_hash, hash)
    VALUES (v_chain, v_seq, p_now, {_lit(str(ActorType.INSTITUTION_CLIENT))}, v_client, v_inst, p_person,
            v_items::jsonb, {_lit(str(Basis.CONSENT))}, {_lit(str(Outcome.OK))}, v_c.id::text,
            jsonb_build_object({detail_value}), v_prev, v_hash)
    RETURNING id INTO v_event;
    UPDATE {H} SET seq = v_seq, head_hash = v_hash WHERE chain = v_chain;"""


def _plain(value: str) -> str:
    """A constant of ours that reads the same inside a SQL literal and a JSON string."""
    if not value.replace("_", "").isalnum() or not value.isascii():
        raise ValueError(f"not a plain name: {value!r}")
    return value


# --- the eligibility check --------------------------------------------------------------------
def _eligibility_function(connection) -> tuple[str, str]:
    """(RETURNS TABLE columns, body) of the check's function."""
    t, col = (lambda m: table(m, connection)), (lambda m, n: _col(connection, m, n))
    union, _ = registry_eligibility.person_union_sql(connection)
    names = (
        "p_person",
        "p_person",
        "p_on",
        "p_on",
        "v_limit_person",
        "p_on",
        "p_on",
        "p_person",
        "p_on",
        "p_on",
        "p_person",
        "p_on",
        "p_on",
    )
    if union.count("%s") != len(names):
        raise RuntimeError("registry.eligibility's UNION ALL changed its parameters: update fastcheck")
    for name in names:
        union = union.replace("%s", name, 1)
    consent_cols, consent_values, consent_nulls = consent_columns(connection)
    union_cols = [
        (f"u{i}", f.cast_db_type(connection)) for i, f in enumerate(registry_eligibility.union_columns())
    ]
    returns = ", ".join(
        ["o_status text", "o_client text", "o_event bigint"]
        + [f"{n} {typ}" for n, typ in consent_cols]
        + ["o_tag integer"]
        + [f"{n} {typ}" for n, typ in union_cols]
    )
    union_nulls = ", ".join(f"NULL::{typ}" for _, typ in union_cols)
    qual, limit = str(ConsentItem.QUALIFICATION), str(ConsentItem.LIMIT_CERTIFICATE)
    Q = t(Qualification)
    acquired, lost = col(Qualification, "acquired_on"), col(Qualification, "lost_on")
    items = f"CASE WHEN v_limit THEN {json_literal([qual, limit])} ELSE {json_literal([qual])} END"
    detail = {
        "on": date_detail("p_on"),
        "read": constant_detail(READ),
        "validity": integer_detail("v_validity"),
    }
    body = f"""
#variable_conflict use_column
DECLARE
    {declarations(connection)}
    v_limit boolean; v_limit_person bigint;
    v_valid bigint; v_started bigint; v_chosen date; v_validity integer;
BEGIN
    {token_sql(connection, SCOPE)}
    {consent_sql(connection, qual)}
    v_limit := v_c.{col(Consent, "items")} ? {_lit(limit)};
    v_limit_person := CASE WHEN v_limit THEN p_person END;
    -- Which period answers for p_on over the whole history: registry.eligibility._choose.
    SELECT count(*) FILTER (WHERE {acquired} <= p_on AND ({lost} IS NULL OR p_on < {lost})),
           count(*) FILTER (WHERE {acquired} <= p_on)
      INTO v_valid, v_started FROM {Q} WHERE {col(Qualification, "person")} = p_person;
    IF v_valid > 1 THEN v_validity := 5;
    ELSIF v_valid = 1 THEN v_validity := 1;
    ELSIF v_started = 0 THEN v_validity := 4;
    ELSE
        SELECT {acquired} INTO v_chosen FROM {Q} WHERE {col(Qualification, "person")} = p_person AND {acquired} <= p_on
         ORDER BY {acquired} DESC, id DESC LIMIT 1;
        v_validity := CASE WHEN EXISTS (SELECT 1 FROM {Q} WHERE {col(Qualification, "person")} = p_person
                                         AND {acquired} > v_chosen AND {acquired} <= p_on) THEN 3 ELSE 2 END;
    END IF;
    {log_row_sql(connection, items, detail)}
    -- First the consent, then the registry rows (tag first, as registry.eligibility reads them).
    RETURN QUERY SELECT 'ok'::text, v_client, v_event, {consent_values}, (-1)::integer, {union_nulls};
    RETURN QUERY SELECT NULL::text, NULL::text, NULL::bigint, {consent_nulls}, u.* FROM ({union}) u;
END;
"""
    return returns, body


ELIGIBILITY = OneCall(
    "clinicapi_eligibility_check_",
    "p_token_hash text, p_code numeric, p_person bigint, p_on date, p_now timestamptz, p_chains integer",
    _eligibility_function,
    "eligibility checks",
    (AccessToken, ApiClient, Institution, Consent, Qualification, AccessEvent, ChainHead),
    setting="CLINICAPI_FAST_CHECK",
)


def install_after_migrate(using="default", **kwargs) -> None:
    """post_migrate (clinicapi.apps): every one-call read follows the models."""
    from .fastmedication import MEDICATION  # it builds on this module

    for one_call in (ELIGIBILITY, MEDICATION):
        one_call.install_after_migrate(using)


# --- serving ----------------------------------------------------------------------------------
_clients_by_token: dict = {}  # token hash -> client id: the throttle key only, never an authorization
_CLIENTS_KEPT = 10_000
_lock = threading.Lock()
RENDERER = JSONRenderer()


@dataclass(frozen=True)
class FastRead:
    """One hot read on the shared serving path: its function, what a query string asks (None: only
    the general path reads it), the call's parameters, and the answer's body built from the rows
    (None when the function did not answer "ok": it wrote nothing, the general path answers)."""

    one_call: OneCall
    asked: Callable  # (query string) -> what the call needs, or None
    parameters: Callable  # (token hash, institution code, person id, asked, now) -> [parameters]
    body: Callable  # (rows, connection, client id, patient id, asked, now) -> bytes | None


def bearer_token(header: str) -> str | None:
    """The token of an Authorization header as DRF reads it, or None (the general path decides)."""
    if not header.isascii():
        return None
    parts = header.encode("ascii").split()  # bytes, as DRF splits it (ASCII whitespace only)
    if len(parts) != 2 or parts[0].lower() != b"bearer" or len(parts[1]) > 128:
        return None
    return parts[1].decode("ascii")


def throttle_for(client_id: str):
    """DRF's ClientRateThrottle for this client, checked as DRF checks it; None when it refuses
    (the general path then answers 429 itself). Call throttle_success() after the read."""
    throttle = ClientRateThrottle()
    if throttle.rate is None:
        return throttle  # no limit configured: nothing to count
    throttle.key = throttle.cache_format % {"scope": "clinicapi-" + throttle.scope, "ident": client_id}
    throttle.history = throttle.cache.get(throttle.key, [])
    throttle.now = throttle.timer()
    while throttle.history and throttle.history[-1] <= throttle.now - throttle.duration:
        throttle.history.pop()
    if len(throttle.history) >= throttle.num_requests:
        return None
    return throttle


def plain_check(accept: str, authorization: str, patient_id: str):
    """(token hash, client id, person id, institution code) of a read the one call may answer, or
    None when the general path must (module docstring). Method and query string are the caller's."""
    if accept.strip() not in JSON_ACCEPTS:
        return None
    token = bearer_token(authorization)
    decoded = decode_patient_id(patient_id)
    if token is None or decoded is None:
        return None
    person_id, code = decoded
    token_hash = _token_hash(token)
    client_id = _clients_by_token.get(token_hash)
    if client_id is None:
        return None
    return token_hash, client_id, person_id, code


# Headers the DRF view sets itself (Allow as DRF lists its methods); the middlewares add the rest.
_VIEW_HEADERS = {"Allow": "GET, HEAD, OPTIONS", "Vary": "Accept", "Cache-Control": "no-store"}


def answer(request, patient_id: str, read: FastRead):
    """The answer of a plain read through its one database call, or None when the general path
    must answer (module docstring)."""
    if request.method != "GET":
        return None
    asked = read.asked(request.META.get("QUERY_STRING", ""))
    if asked is None:
        return None
    plain = plain_check(
        request.META.get("HTTP_ACCEPT", ""), request.META.get("HTTP_AUTHORIZATION", ""), patient_id
    )
    if plain is None:
        return None
    token_hash, client_id, person_id, code = plain
    connection = connections[router.db_for_write(AccessEvent)]
    if connection.in_atomic_block or not read.one_call.enabled(connection):
        return None
    throttle = throttle_for(client_id)
    if throttle is None:
        return None
    now = timezone.now()
    try:
        rows = read.one_call.call(
            connection,
            read.one_call.name(connection),
            read.parameters(token_hash, code, person_id, asked, now),
        )
    except ProgrammingError as exc:
        if not undefined_function(exc):
            raise
        read.one_call.forget(connection)  # dropped under us (a restore): look again, general path now
        return None
    body = read.body(rows, connection, client_id, patient_id, asked, now)
    if body is None:
        return None
    if throttle.rate is not None:
        throttle.throttle_success()
    response = HttpResponse(body, content_type="application/json")
    for header, value in _VIEW_HEADERS.items():
        response[header] = value
    return response


def remember_client(request) -> None:
    """After the general path answered: the client id of a token that authenticated (throttle key)."""
    access = getattr(request, "auth", None)
    client_id = getattr(access, "client_id", None)
    header = bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
    if client_id is None or header is None:
        return
    with _lock:
        if len(_clients_by_token) >= _CLIENTS_KEPT:
            _clients_by_token.clear()  # tokens live minutes: forgetting costs one general-path request
        _clients_by_token[_token_hash(header)] = client_id


def fast_or(general_view, read: "FastRead | None" = None):
    """A read's URL view: its one call when it can answer, else `general_view` (default: the
    eligibility check)."""
    read = read or ELIGIBILITY_READ

    @csrf_exempt
    def view(request, patient_id):
        fast = answer(request, patient_id, read)
        if fast is not None:
            return fast
        response = general_view(request, patient_id=patient_id)
        if response.status_code == 200:
            remember_client(request)
        return response

    view.general = general_view
    # The same operation for the schema generator, which reads the DRF view class off the callback.
    for name in ("cls", "initkwargs", "view_class", "view_initkwargs"):
        if hasattr(general_view, name):
            setattr(view, name, getattr(general_view, name))
    return view


# --- the eligibility check's answer -------------------------------------------------------------
def call_parameters(token_hash, code, person_id, on, now) -> list:
    return [token_hash, code, person_id, on, now, settings.AUDIT_CHAINS]


def answer_body(rows, connection, client_id: str, patient_id: str, on, now) -> bytes | None:
    """The JSON answer built from the function's rows, as the general path builds it; None when the
    function did not answer "ok" (it wrote nothing: the general path decides and answers)."""
    if not rows or rows[0][0] != "ok":
        return None
    if rows[0][1] != client_id:
        return None  # cannot happen (a token belongs to one client); never count another's bucket
    consent = CONSENT_COLUMNS.instance(rows[0], connection, 3)
    start = 3 + len(CONSENT_COLUMNS)
    result = registry_eligibility.resolve_from_rows(
        [row[start:] for row in rows[1:]],
        connection,
        on,
        include_limit=ConsentItem.LIMIT_CERTIFICATE in consent.items,
    )
    read = EligibilityRead(patient_id, consent, result, "1", at=now)
    return RENDERER.render(presenters.eligibility(read))


def _today_unless_asked(query_string: str):
    return None if query_string else rules.today()  # a check with a query: the general path


ELIGIBILITY_READ = FastRead(ELIGIBILITY, _today_unless_asked, call_parameters, answer_body)


def check(request, patient_id: str):
    """The answer of a plain eligibility check through the one database call, or None."""
    return answer(request, patient_id, ELIGIBILITY_READ)
