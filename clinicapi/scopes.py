"""The scope vocabulary of the institutions' API: one home, named after what a scope lets a client do.

A scope opens an endpoint family; which records a read returns is still decided by the patient's
consent on every request. Medical scopes are never granted to a qualification-only institution.
"""

SCOPES = {
    "qualification.read": "資格情報の照会・再照会 / eligibility and re-query",
    "paper_certificate.read": "資格確認書による資格確認 / eligibility by a paper eligibility certificate",
    "medication.read": "薬剤情報 / medication information",
    "treatment.read": "診療情報 / treatment information",
    "checkup.read": "特定健診等情報 / checkup results",
    "consent.read": "同意済み患者の一覧 / consented patients",
    "consent.write": "医療機関側の同意取消し / cancellation by the institution",
    "batch.write": "一括照会の登録 / batch pre-check submission",
    "disaster.read": "災害時の患者検索と薬剤・健診情報の閲覧 / disaster mode search and views",
}

# Medical information: never for a 資格確認限定型 institution.
MEDICAL_SCOPES = frozenset({"medication.read", "treatment.read", "checkup.read", "disaster.read"})

# What `register_api_client` grants when no --scope is given: what every institution system needs.
DEFAULT_SCOPES = ("qualification.read", "consent.read")


def parse_scope(value: str) -> list[str]:
    """A space-separated OAuth scope string as an ordered list without repeats."""
    seen = []
    for item in value.split(" "):
        if item and item not in seen:
            seen.append(item)
    return seen


def format_scope(scopes) -> str:
    return " ".join(scopes)
