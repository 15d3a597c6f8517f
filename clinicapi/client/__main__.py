"""python -m clinicapi.client — the institutions' API from a shell.

    python -m clinicapi.client keygen --alg ES384 --out ./hc-key         # then register the printed JWKS
    export HOMECONSENT_API_BASE=https://homeconsent.example/api/v1
    export HOMECONSENT_CLIENT_ID=…  HOMECONSENT_KEY_FILE=./hc-key/private_key.pem
    python -m clinicapi.client token --scope "consent.read qualification.read"
    python -m clinicapi.client patients --kind home_visit
    python -m clinicapi.client eligibility PATIENT_ID
    python -m clinicapi.client medication PATIENT_ID --from 2026-01
    python -m clinicapi.client batch submit keys.csv ; python -m clinicapi.client batch get RECEPTION_NUMBER

Tables by default (aligned for Japanese text), `--json` for the API's JSON, `--fhir` for FHIR R4
where the endpoint has it. Exit status: 0 done, 1 refused by the API (code on stderr), 2 usage.
"""

import argparse
import csv
import datetime
import json
import os
import sys

from .core import ApiError, Client, generate_key, load_private_key, public_jwk, write_private_key
from .table import render, render_pairs

ENV = {
    "base": "HOMECONSENT_API_BASE",
    "client_id": "HOMECONSENT_CLIENT_ID",
    "key": "HOMECONSENT_KEY_FILE",
    "kid": "HOMECONSENT_KID",
    "token_url": "HOMECONSENT_API_TOKEN_URL",
    "access_token": "HOMECONSENT_ACCESS_TOKEN",
    "ca_file": "HOMECONSENT_CA_FILE",
}
FHIR = "application/fhir+json"
SEX = {"1": "男", "2": "女"}
# The meaning of the eligibility codes, printed with the code ("1 本人", "010 1割"). The client runs
# without Django, so it keeps its own copy of the national terms (homeconsent/registry/models.py,
# homeconsent/registry/labels.py); --json prints the codes only.
VALIDITY = {
    "1": "有効",
    "2": "無効（喪失）",
    "3": "無効（新しい資格あり）",
    "4": "該当資格なし",
    "5": "複数該当",
}
PERSONAL_FAMILY = {"1": "本人", "2": "家族"}
CONTRIBUTION_RATIO = {"010": "1割", "020": "2割", "030": "3割"}
# How the answer was reached, where the API names it (POST paper-certificate).
PATHS = {"paper_certificate": "paper_certificate 資格確認書の記載事項"}
REASON_OF_LOSS = {"01": "死亡", "02": "生活保護", "03": "他保険取得", "99": "その他"}
KEY_FIELDS = ("insurer_number", "symbol", "number", "branch", "birth_date")
# The API gives times in UTC; people at the institution read Japan time (no daylight saving).
JST = datetime.timezone(datetime.timedelta(hours=9), "JST")


class UsageError(Exception):
    pass


# --- output --------------------------------------------------------------------------------------
def japan_time(value) -> str:
    """An API timestamp (ISO 8601, UTC) as Japan time: "2026-11-26 01:39 JST"; "" if absent."""
    if not value:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return f"{moment.astimezone(JST):%Y-%m-%d %H:%M} JST"


def emit(text: str) -> None:
    sys.stdout.write(text.rstrip("\n") + "\n")


def emit_json(data) -> None:
    emit(json.dumps(data, ensure_ascii=False, indent=2))


def _consent_cell(consent):
    if not consent:
        return ""
    return f"{consent.get('kind', '')} {consent.get('status', '')}".strip()


# The API answers an unconsented patient exactly as an unknown one (404 not_found), so that nobody
# learns who is registered; the client can still tell its operator what that usually means.
NO_CONSENT_YET = (
    "同意はまだありません: 患者さんが貴院の同意登録ページ（入口URL・QRコード）で同意すると表示されます。\n"
    "No consent yet: patients appear here once they consent on your institution's entry page."
)
PATIENT_NOT_FOUND_HINT = (
    "  この患者さんの同意が貴院に対して有効でないか、患者IDが違います。同意登録ページでの同意の後にもう一度お試しください。\n"
    "  No consent of this patient is in force at your institution (or the patient id is wrong):"
    " try again once the patient has consented on your entry page."
)


def show_patients(data):
    rows = data.get("patients", [])
    emit(
        render(
            rows,
            [
                ("patient_id", "patient_id"),
                ("name", "氏名"),
                ("name_kana", "カナ"),
                (lambda r: SEX.get(r.get("sex1"), r.get("sex1")), "性別"),
                ("birthdate", "生年月日"),
                (lambda r: r["consent"].get("kind"), "種別"),
                (lambda r: japan_time(r["consent"].get("given_at")), "同意日時"),
                (lambda r: r["consent"].get("visit_date"), "診療予定日"),
                (lambda r: r["consent"].get("status"), "状態"),
            ],
        )
    )
    emit(
        f"{data.get('count', len(rows))} 件"
        + (f"（続きあり: --cursor {data['next_cursor']}）" if data.get("next_cursor") else "")
    )
    if not rows:
        emit(NO_CONSENT_YET)


def coded(value, meanings) -> str:
    """A code with its meaning: "010 1割"; the code alone if it has none; "" if absent."""
    if value in (None, ""):
        return ""
    meaning = meanings.get(str(value))
    return f"{value} {meaning}" if meaning else str(value)


def _with_code(code, name) -> str:
    return " ".join(str(v) for v in (code, name) if v not in (None, ""))


def show_eligibility(data):
    q = data.get("qualification") or {}
    pairs = [
        ("資格有効性", coded(data.get("qualification_validity"), VALIDITY)),
        ("確認の方法", PATHS.get(data.get("path"), data.get("path"))),
        ("基準日", data.get("reference_date")),
        ("patient_id", data.get("patient_id")),
        ("氏名", q.get("name")),
        ("カナ", q.get("name_kana")),
        ("生年月日", q.get("birthdate")),
        ("保険者番号", q.get("insurer_number")),
        ("保険者名", q.get("insurer_name")),
        ("記号", q.get("insured_card_symbol")),
        ("番号", q.get("insured_identification_number")),
        ("枝番", q.get("insured_branch_number")),
        ("本人・家族", coded(q.get("personal_family_classification"), PERSONAL_FAMILY)),
        ("資格取得日", q.get("qualification_date")),
        ("資格喪失日", q.get("disqualification_date")),
        ("一部負担金割合", coded(q.get("insured_partial_contribution_ratio"), CONTRIBUTION_RATIO)),
        ("喪失事由", coded(data.get("reason_of_loss"), REASON_OF_LOSS)),
    ]
    elderly = data.get("elderly_recipient_certificate_info")
    if elderly:
        pairs.append(
            (
                "高齢受給者証 負担割合",
                coded(elderly.get("elderly_recipient_contribution_ratio"), CONTRIBUTION_RATIO),
            )
        )
    limit = data.get("limit_application_certificate_related_info")
    if limit:
        pairs.append(
            (
                "限度額適用区分",
                _with_code(
                    limit.get("limit_application_certificate_classification_flag"),
                    limit.get("limit_application_certificate_classification"),
                ),
            )
        )
    for disease in data.get("specific_diseases_certificate_list") or []:
        pairs.append(
            (
                "特定疾病",
                _with_code(
                    disease.get("specific_diseases_disease_category"),
                    disease.get("specific_diseases_disease_category_name"),
                ),
            )
        )
    emit(render_pairs([(k, v) for k, v in pairs if v not in (None, "")]))
    show_public_expense(data.get("public_expense_certificate_list") or [])


def _yen(amount) -> str:
    return "" if amount is None else f"{amount:,}円"


def show_public_expense(certificates):
    """The 公費 certificates of an eligibility answer, one row each; nothing when there are none."""
    if not certificates:
        return
    emit("")
    emit(f"公費 {len(certificates)} 件")
    emit(
        render(
            certificates,
            [
                (
                    lambda c: _with_code(
                        c.get("public_expense_law_number"), c.get("public_expense_law_name")
                    ),
                    "法別番号・制度",
                ),
                ("public_expense_payer_number", "公費負担者番号"),
                ("public_expense_recipient_number", "受給者番号"),
                (
                    lambda c: (
                        f"{c.get('public_expense_valid_start_date') or ''}〜"
                        f"{c.get('public_expense_valid_end_date') or ''}"
                    ),
                    "有効期間",
                ),
                (lambda c: _yen(c.get("public_expense_monthly_self_pay_limit")), "自己負担上限月額"),
                (
                    lambda c: " ".join(c.get("public_expense_designated_institutions") or []) or "指定なし",
                    "指定医療機関",
                ),
            ],
        )
    )


def show_medication(data):
    rows = [r for month in data.get("months", []) for r in month.get("records", [])]
    emit(
        render(
            rows,
            [
                ("dispensing_date", "調剤日"),
                ("drug_name", "医薬品名"),
                ("quantity", "用量"),
                ("unit", "単位"),
                ("usage", "用法"),
                ("days", "日数"),
                ("dispensing_institution_name", "調剤機関"),
                ("source", "情報源"),
            ],
        )
    )
    emit(f"{data.get('count', len(rows))} 件（{data.get('from')} 〜 {data.get('to')}）")


def show_treatment(data):
    rows = data.get("records", [])
    emit(
        render(
            rows,
            [
                ("treatment_date", "診療日"),
                ("procedure_name", "診療行為"),
                ("procedure_code", "コード"),
                ("times", "回数"),
                ("institution_name", "医療機関"),
                (lambda r: "入院" if r.get("inpatient") else "入院外", "区分"),
            ],
        )
    )
    emit(f"{data.get('count', len(rows))} 件（{data.get('from')} 〜 {data.get('to')}）")


def show_checkups(data):
    rows = [
        {**item, "checkup_date": c.get("checkup_date")}
        for c in data.get("checkups", [])
        for item in c["items"]
    ]
    emit(
        render(
            rows,
            [
                ("checkup_date", "実施日"),
                ("item_name", "項目"),
                ("value", "結果"),
                ("unit", "単位"),
                ("item_code", "項目コード"),
            ],
        )
    )
    emit(f"{data.get('count', len(rows))} 件")


def show_batch(data):
    header = [
        ("受付番号", data.get("reception_number")),
        ("受付日時", data.get("submitted_at")),
        ("基準日", data.get("reference_date")),
        ("件数", data.get("entry_count")),
        ("正常", data.get("normal_count")),
        ("エラー", data.get("error_count")),
        ("保存期限", data.get("expires_at")),
    ]
    emit(render_pairs([(k, v) for k, v in header if v is not None]))
    if "entries" in data:
        emit("")
        emit(
            render(
                data["entries"],
                [
                    ("index", "#"),
                    ("segment_of_result", "処理結果"),
                    ("qualification_validity", "資格有効性"),
                    ("patient_id", "patient_id"),
                    (lambda e: (e.get("qualification") or {}).get("name"), "氏名"),
                    (lambda e: (e.get("qualification") or {}).get("insurer_number"), "保険者番号"),
                    ("error_code", "エラー"),
                ],
            )
        )
        if data.get("next_offset") is not None:
            emit(f"続き: --offset {data['next_offset']}")


def show_cancelled(data):
    emit(
        render(
            data.get("cancelled", []),
            [("consent_id", "consent_id"), ("kind", "種別"), ("status", "状態"), ("ended_at", "終了日時")],
        )
    )


def show_whoami(data):
    emit(
        render_pairs(
            [
                ("医療機関等コード", data.get("institution_code")),
                ("client_id", data.get("client_id")),
                ("scopes", " ".join(data.get("scopes", []))),
                ("有効期限", data.get("expires_at")),
            ]
        )
    )


# --- commands ------------------------------------------------------------------------------------
def cmd_keygen(args):
    os.makedirs(args.out, mode=0o700, exist_ok=True)
    key_path = os.path.join(args.out, "private_key.pem")
    key = generate_key(args.alg)
    try:
        write_private_key(key_path, key, force=args.force)
    except FileExistsError:
        raise UsageError(
            f"{key_path} exists; use --force to replace it (the old key stops working)"
        ) from None
    jwks = {"keys": [public_jwk(key, kid=args.kid, alg=args.alg)]}
    with open(os.path.join(args.out, "jwks.json"), "w", encoding="utf-8") as f:
        json.dump(jwks, f, indent=2)
        f.write("\n")
    print(f"private key: {key_path} (mode 0600; never send it anywhere)", file=sys.stderr)
    print(
        f"public JWKS: {os.path.join(args.out, 'jwks.json')} — register it with the operator", file=sys.stderr
    )
    emit_json(jwks)


def make_client(args, *, need_key=True) -> Client:
    base = args.base or os.environ.get(ENV["base"])
    if not base:
        raise UsageError(f"give --base or set {ENV['base']} (for example https://homeconsent.example/api/v1)")
    access_token = args.access_token or os.environ.get(ENV["access_token"])
    client_id = args.client_id or os.environ.get(ENV["client_id"], "")
    key_path = args.key or os.environ.get(ENV["key"])
    key = None
    if need_key or not access_token:
        if not client_id or not key_path:
            raise UsageError(
                f"give --client-id and --key (or {ENV['client_id']} and {ENV['key']}), "
                f"or an access token in {ENV['access_token']}"
            )
        key = load_private_key(key_path)
    return Client(
        base,
        client_id,
        key,
        kid=args.kid or os.environ.get(ENV["kid"]),
        token_url=args.token_url or os.environ.get(ENV["token_url"]),
        access_token=None if need_key else access_token,
        ca_file=args.ca_file or os.environ.get(ENV["ca_file"]),
    )


def cmd_token(args):
    client = make_client(args)
    issued = client.token(args.scope)
    if args.raw:
        emit(issued["access_token"])
    else:
        emit_json(issued)


def read_command(path, scopes, show, *, params=None, method="GET", body=None, fhir_ok=False):
    def run(args):
        client = make_client(args, need_key=False)
        accept = FHIR if getattr(args, "fhir", False) else "application/json"
        if accept == FHIR and not fhir_ok:
            raise UsageError(
                "--fhir is available for patients, eligibility, requery, medication, treatment, checkups"
            )
        resolved = path(args) if callable(path) else path
        data = client.request(
            method,
            resolved,
            params=params(args) if params else None,
            body=body(args) if body else None,
            scopes=args.scope or scopes,
            accept=accept,
        )
        if args.json or accept == FHIR:
            emit_json(data)
        else:
            show(data)

    return run


# The scope a FHIR path needs, by its resource type.
FHIR_SCOPES = {
    "Patient": "consent.read",
    "Consent": "consent.read",
    "Coverage": "qualification.read",
    "MedicationDispense": "medication.read",
    "Observation": "checkup.read",
    "Procedure": "treatment.read",
    "Organization": "qualification.read",
}
# `_include` of the Patient, by command.
PATIENT_INCLUDES = {
    "medication": "MedicationDispense:patient",
    "treatment": "Procedure:patient",
    "checkups": "Observation:patient",
}


def cmd_fhir(args):
    """GET a path of the FHIR API (BASE/fhir/PATH, query included) and print the resource or Bundle."""
    client = make_client(args, need_key=False)
    path = args.path.lstrip("/")
    resource_type = path.split("?", 1)[0].split("/", 1)[0]
    scopes = args.scope or FHIR_SCOPES.get(resource_type, "consent.read")
    emit_json(client.request("GET", "fhir/" + path, scopes=scopes, accept=FHIR))


def load_entries(path: str) -> list:
    """Search keys from a CSV (header: insurer_number,symbol,number,branch,birth_date) or JSON file."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    if path.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
        data = json.loads(text)
        return data.get("entries", []) if isinstance(data, dict) else data
    rows = list(csv.DictReader(text.splitlines()))
    missing = [name for name in KEY_FIELDS if rows and name not in rows[0]]
    if missing:
        raise UsageError(f"the CSV header needs {', '.join(KEY_FIELDS)} (missing: {', '.join(missing)})")
    # Keep the keys as text exactly as written: 記号・番号 may hold leading zeros or full-width digits.
    return [{name: row[name] for name in KEY_FIELDS} for row in rows]


def _pid(args):
    return "patients/" + args.patient_id


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    conn = common.add_argument_group("connection (flags, or the environment variables named)")
    conn.add_argument("--base", help=f"API root, e.g. https://host/api/v1 [{ENV['base']}]")
    conn.add_argument("--client-id", help=f"client id from registration [{ENV['client_id']}]")
    conn.add_argument("--key", help=f"private key PEM [{ENV['key']}]")
    conn.add_argument("--kid", help=f"key id (default: the key's RFC 7638 thumbprint) [{ENV['kid']}]")
    conn.add_argument(
        "--token-url", help=f"token URL when it differs from BASE/auth/token [{ENV['token_url']}]"
    )
    conn.add_argument("--access-token", help=f"use this token instead of getting one [{ENV['access_token']}]")
    conn.add_argument("--ca-file", help=f"CA bundle for TLS [{ENV['ca_file']}]")
    conn.add_argument("--scope", help="scopes to ask for (space separated; default: what the command needs)")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    fhir = argparse.ArgumentParser(add_help=False)
    fhir.add_argument(
        "--fhir", action="store_true", help="ask for FHIR R4 (application/fhir+json) and print it"
    )

    parser = argparse.ArgumentParser(
        prog="python -m clinicapi.client",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="make a key pair; prints the public JWKS to register")
    p.add_argument("--alg", choices=["ES384", "RS384", "ES256"], default="ES384")
    p.add_argument("--out", required=True, help="folder for private_key.pem (0600) and jwks.json")
    p.add_argument("--kid", help="key id (default: RFC 7638 thumbprint)")
    p.add_argument("--force", action="store_true", help="replace an existing private key")
    p.set_defaults(run=cmd_keygen)

    p = sub.add_parser("token", parents=[common], help="get an access token (prints the token response)")
    p.add_argument("--raw", action="store_true", help="print only the access token")
    p.set_defaults(run=cmd_token, scope_default="qualification.read consent.read")

    p = sub.add_parser("whoami", parents=[common, out], help="which institution and scopes a token has")
    p.set_defaults(run=read_command("whoami", "consent.read", show_whoami))

    p = sub.add_parser(
        "patients", parents=[common, out, fhir], help="consented patients (home visit, telehealth)"
    )
    p.add_argument("--kind", choices=["home_visit", "telehealth"])
    p.add_argument("--from", dest="consented_from", help="consent given on or after YYYY-MM-DD")
    p.add_argument("--to", dest="consented_to", help="consent given on or before YYYY-MM-DD")
    p.add_argument("--visit-from"), p.add_argument("--visit-to")
    p.add_argument("--status", choices=["in_force", "ended", "all"])
    p.add_argument("--cursor"), p.add_argument("--page-size", type=int)
    p.set_defaults(
        run=read_command(
            "patients",
            "consent.read",
            show_patients,
            fhir_ok=True,
            params=lambda a: {
                "kind": a.kind,
                "consented_from": a.consented_from,
                "consented_to": a.consented_to,
                "visit_from": a.visit_from,
                "visit_to": a.visit_to,
                "status": a.status,
                "cursor": a.cursor,
                "page_size": a.page_size,
            },
        )
    )

    p = sub.add_parser("eligibility", parents=[common, out, fhir], help="eligibility of a consented patient")
    p.add_argument("patient_id"), p.add_argument("--on", help="reference date YYYY-MM-DD (default today)")
    p.set_defaults(
        run=read_command(
            lambda a: _pid(a) + "/eligibility",
            "qualification.read",
            show_eligibility,
            fhir_ok=True,
            params=lambda a: {"on": a.on},
        )
    )

    p = sub.add_parser("requery", parents=[common, out, fhir], help="再照会 by insurance-card numbers")
    for name in KEY_FIELDS:
        p.add_argument("--" + name.replace("_", "-"), required=name != "symbol", default="")
    p.add_argument("--on")
    p.set_defaults(
        run=read_command(
            "requery",
            "qualification.read",
            show_eligibility,
            method="POST",
            fhir_ok=True,
            body=lambda a: {**{n: getattr(a, n) for n in KEY_FIELDS}, **({"on": a.on} if a.on else {})},
        )
    )

    p = sub.add_parser(
        "paper-certificate",
        parents=[common, out],
        help="資格確認書: eligibility by the keys printed on a paper eligibility certificate",
    )
    for name in KEY_FIELDS:
        p.add_argument("--" + name.replace("_", "-"), required=name != "symbol", default="")
    p.add_argument("--on")
    p.set_defaults(
        run=read_command(
            "paper-certificate",
            "paper_certificate.read",
            show_eligibility,
            method="POST",
            body=lambda a: {**{n: getattr(a, n) for n in KEY_FIELDS}, **({"on": a.on} if a.on else {})},
        )
    )

    for name, scope, show, params in (
        (
            "medication",
            "medication.read",
            show_medication,
            lambda a: {"month_from": a.date_from, "month_to": a.date_to},
        ),
        (
            "treatment",
            "treatment.read",
            show_treatment,
            lambda a: {"date_from": a.date_from, "date_to": a.date_to},
        ),
        (
            "checkups",
            "checkup.read",
            show_checkups,
            lambda a: {"date_from": a.date_from, "date_to": a.date_to},
        ),
    ):
        unit = "YYYY-MM" if name == "medication" else "YYYY-MM-DD"
        p = sub.add_parser(name, parents=[common, out, fhir], help=f"{name} of a consented patient")
        p.add_argument("patient_id")
        (
            p.add_argument("--from", dest="date_from", help=unit),
            p.add_argument("--to", dest="date_to", help=unit),
        )
        p.add_argument(
            "--include-patient",
            action="store_true",
            help="with --fhir: include the Patient in the Bundle (_include)",
        )

        def with_include(a, params=params, n=name):
            return {**params(a), **({"_include": PATIENT_INCLUDES[n]} if a.include_patient else {})}

        p.set_defaults(
            run=read_command(
                lambda a, n=name: _pid(a) + "/" + n, scope, show, fhir_ok=True, params=with_include
            )
        )

    p = sub.add_parser(
        "fhir",
        parents=[common],
        help="GET a path of the FHIR R4 API and print it, e.g. "
        "'MedicationDispense?patient=ID&_include=MedicationDispense:patient'",
    )
    p.add_argument(
        "path", help="path under BASE/fhir/, with its query: Patient/ID, Coverage?patient=ID, metadata"
    )
    p.set_defaults(run=cmd_fhir)

    p = sub.add_parser(
        "cancel", parents=[common, out], help="cancel this institution's consent(s) for a patient"
    )
    (
        p.add_argument("patient_id"),
        p.add_argument("--kind", choices=["home_visit", "telehealth", "qualification_only"]),
    )
    p.set_defaults(
        run=read_command(
            lambda a: _pid(a) + "/cancel",
            "consent.write",
            show_cancelled,
            method="POST",
            body=lambda a: {"kind": a.kind} if a.kind else {},
        )
    )

    batch = sub.add_parser("batch", help="一括照会: submit search keys, get results by reception number")
    bsub = batch.add_subparsers(dest="batch_command", required=True)
    p = bsub.add_parser("submit", parents=[common, out], help="submit a CSV or JSON file of search keys")
    p.add_argument("file"), p.add_argument("--on", help="reference date YYYY-MM-DD")
    p.set_defaults(
        run=read_command(
            "batches",
            "batch.write",
            show_batch,
            method="POST",
            body=lambda a: {"entries": load_entries(a.file), **({"on": a.on} if a.on else {})},
        )
    )
    p = bsub.add_parser("get", parents=[common, out], help="one page of results of a reception number")
    p.add_argument("number"), p.add_argument("--offset", type=int), p.add_argument("--limit", type=int)
    p.set_defaults(
        run=read_command(
            lambda a: "batches/" + a.number,
            "batch.write",
            show_batch,
            params=lambda a: {"offset": a.offset, "limit": a.limit},
        )
    )
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "scope", None) is None and hasattr(args, "scope_default"):
        args.scope = args.scope_default
    try:
        args.run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        body = exc.body
        print(f"refused ({exc.status} {exc.code}): {body.get('message') or ''}", file=sys.stderr)
        if body.get("message_en") or body.get("error_description"):
            print(f"  {body.get('message_en') or body.get('error_description')}", file=sys.stderr)
        if body.get("details"):
            print("  " + json.dumps(body["details"], ensure_ascii=False), file=sys.stderr)
        if exc.status == 404 and str(getattr(args, "patient_id", "") or ""):
            print(PATIENT_NOT_FOUND_HINT, file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
