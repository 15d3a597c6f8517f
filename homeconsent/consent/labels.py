"""What consent items, kinds and endings are called on the pages (gettext msgids in English, the
catalogue gives the Japanese). The portal takes the patient's words from here, the console the
staff's (STAFF_*: the terms of the trade, 薬剤情報 and 限度額適用認定証 rather than the patient's plain
words). Items also name what an access-log row concerns, so the log's own items are here too."""

from django.utils.translation import gettext_lazy, pgettext_lazy

from .models import ConsentEndedBy, ConsentItem, ConsentKind

ITEM_LABELS = {
    # Japanese: 健康保険の資格（加入している保険・負担割合）, not the jargon 資格情報.
    ConsentItem.QUALIFICATION: pgettext_lazy("patient", "Health insurance"),
    ConsentItem.MEDICATION: gettext_lazy("Medicines"),
    ConsentItem.TREATMENT: gettext_lazy("Treatment"),
    ConsentItem.CHECKUP: gettext_lazy("Health checkups"),
    ConsentItem.OPERATION: gettext_lazy("Operations"),
    ConsentItem.LIMIT_CERTIFICATE: gettext_lazy("Limit on your medical costs (限度額)"),
    "expense_notice": gettext_lazy("Medical expense notices"),
    "consent": gettext_lazy("Consents"),
    "access_log": gettext_lazy("Access history"),
    "card_registration": gettext_lazy("Health-insurance-use registration"),
    "portal_login": gettext_lazy("Sign-in to this portal"),
    "person": gettext_lazy("Your personal details"),
    "card_certificate": gettext_lazy("Your card's certificate"),
    # what an emergency or disaster search discloses (special_access)
    "basic_information": gettext_lazy("Basic information (name, birth date, sex, address)"),
}
KIND_LABELS = {
    ConsentKind.HOME_VISIT: gettext_lazy("Home visits"),
    ConsentKind.TELEHEALTH: gettext_lazy("Telehealth"),
    ConsentKind.QUALIFICATION_ONLY: gettext_lazy("Eligibility only"),
    ConsentKind.DISASTER: gettext_lazy("Disaster"),
}
ENDED_LABELS = {
    ConsentEndedBy.PATIENT: gettext_lazy("Cancelled by you"),
    ConsentEndedBy.INSTITUTION: gettext_lazy("Cancelled by the institution"),
    ConsentEndedBy.EXPIRED: gettext_lazy("Expired"),
    ConsentEndedBy.SUPERSEDED: gettext_lazy("Replaced by a newer consent"),
}

# The console's words for the same codes: staff read the national terms.
STAFF_KIND_LABELS = {
    ConsentKind.HOME_VISIT: gettext_lazy("Home visit"),
    ConsentKind.TELEHEALTH: gettext_lazy("Telehealth"),
    ConsentKind.QUALIFICATION_ONLY: gettext_lazy("Qualification only"),
    ConsentKind.DISASTER: gettext_lazy("Disaster"),
}
STAFF_ITEM_LABELS = {
    ConsentItem.QUALIFICATION: gettext_lazy("Health insurance"),
    ConsentItem.MEDICATION: gettext_lazy("Medicines"),
    ConsentItem.TREATMENT: gettext_lazy("Treatment"),
    ConsentItem.CHECKUP: gettext_lazy("Health checkups"),
    ConsentItem.OPERATION: gettext_lazy("Operations"),
    ConsentItem.LIMIT_CERTIFICATE: gettext_lazy("Limit certificate (限度額)"),
}
# What an emergency or disaster viewing shows (special_access.services.ITEMS): treatment and
# operations come as one section there.
SPECIAL_ITEM_LABELS = {
    ConsentItem.QUALIFICATION: gettext_lazy("Eligibility"),
    ConsentItem.MEDICATION: gettext_lazy("Medicines"),
    ConsentItem.TREATMENT: gettext_lazy("Treatment and operations"),
    ConsentItem.CHECKUP: gettext_lazy("Health checkups"),
}
