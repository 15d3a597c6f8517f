"""Display labels for the registry's coded values, on the portal and the institution console alike.

The registry's TextChoices carry the national Japanese terms (本人, 1割, 一般Ⅰ …) as their labels;
English pages must not show them. Here each code has an English msgid whose Japanese translation
is exactly the national term, so the Japanese pages read as before.
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from homeconsent.registry.models import (
    CardClassification,
    ContributionRatio,
    LimitClassification,
    PersonalFamily,
    PublicExpenseProgramme,
    ReasonOfLoss,
    SpecificDiseaseCategory,
)

PERSONAL_FAMILY = {
    PersonalFamily.INSURED: pgettext_lazy("insured person", "Insured (self)"),
    PersonalFamily.FAMILY: pgettext_lazy("insured person", "Family member"),
}
CONTRIBUTION_RATIO = {
    ContributionRatio.ONE: pgettext_lazy("cost share", "10 percent"),
    ContributionRatio.TWO: pgettext_lazy("cost share", "20 percent"),
    ContributionRatio.THREE: pgettext_lazy("cost share", "30 percent"),
}
REASON_OF_LOSS = {
    ReasonOfLoss.DEATH: _("Death"),
    ReasonOfLoss.PUBLIC_ASSISTANCE: _("Public assistance (生活保護)"),
    ReasonOfLoss.OTHER_INSURANCE: _("Joined another insurance"),
    ReasonOfLoss.OTHER: pgettext_lazy("reason of loss", "Other"),
}
CARD_CLASSIFICATION = {
    CardClassification.GENERAL: _("Health insurance card (general)"),
    CardClassification.ELDERLY_70: _("Health insurance card (elderly recipient)"),
    CardClassification.KOUKI: _("Late-stage elderly health insurance card"),
    CardClassification.SHORT_TERM: _("Short-term health insurance card"),
    CardClassification.QUALIFICATION_CERT: _("Eligibility certificate (資格確認書)"),
}
LIMIT_CLASSIFICATION = {
    LimitClassification.A01: pgettext_lazy("limit bracket", "Bracket A"),
    LimitClassification.A02: pgettext_lazy("limit bracket", "Bracket I"),
    LimitClassification.A03: pgettext_lazy("limit bracket", "Bracket U"),
    LimitClassification.A04: pgettext_lazy("limit bracket", "Bracket E"),
    LimitClassification.A05: pgettext_lazy("limit bracket", "Bracket O"),
    LimitClassification.A06: pgettext_lazy("limit bracket", "Bracket O (borderline)"),
    LimitClassification.B01: pgettext_lazy("limit bracket", "Working-level income III"),
    LimitClassification.B02: pgettext_lazy("limit bracket", "Working-level income II"),
    LimitClassification.B03: pgettext_lazy("limit bracket", "Working-level income I"),
    LimitClassification.B04: pgettext_lazy("limit bracket", "General II"),
    LimitClassification.B05: pgettext_lazy("limit bracket", "General I"),
    LimitClassification.B06: pgettext_lazy("limit bracket", "Low income II"),
    LimitClassification.B07: pgettext_lazy("limit bracket", "Low income I"),
    LimitClassification.B08: pgettext_lazy("limit bracket", "Low income I (welfare pension for the elderly)"),
    LimitClassification.B09: pgettext_lazy("limit bracket", "Low income I (borderline)"),
    LimitClassification.B10: pgettext_lazy("limit bracket", "Low income II (borderline)"),
}
SPECIFIC_DISEASE = {
    SpecificDiseaseCategory.HEMOPHILIA: _("Hemophilia"),
    SpecificDiseaseCategory.DIALYSIS: _("Chronic kidney failure treated with dialysis"),
    SpecificDiseaseCategory.HIV: _("HIV infection (AIDS) treated with antiviral drugs"),
}
# 公費 programmes by 法別番号: the English name with the short Japanese term a patient hears at the desk.
PUBLIC_EXPENSE_PROGRAMME = {
    "10": _("Tuberculosis treatment under the Infectious Diseases Act (結核)"),
    "12": _("Medical assistance under public assistance (生活保護)"),
    "15": _("Medical care for independence: rehabilitation (更生医療)"),
    "16": _("Medical care for independence: children (育成医療)"),
    "21": _("Medical care for independence: outpatient psychiatry (精神通院)"),
    "52": _("Chronic pediatric specified diseases (小児慢性特定疾病)"),
    "54": _("Designated intractable diseases (難病)"),
}

# Checkup items whose registry names (JLAC10: 収縮期血圧（その他）…) read poorly to a patient, by item key.
CHECKUP_NAMES = {
    "sbp": _("Blood pressure, upper (systolic)"),
    "dbp": _("Blood pressure, lower (diastolic)"),
}

# Field name -> labels, for the `registry_label` template filter.
BY_FIELD = {
    "personal_family": PERSONAL_FAMILY,
    "contribution_ratio": CONTRIBUTION_RATIO,
    "reason_of_loss": REASON_OF_LOSS,
    "card_classification": CARD_CLASSIFICATION,
    "classification": LIMIT_CLASSIFICATION,
    "disease_category": SPECIFIC_DISEASE,
    "programme": PUBLIC_EXPENSE_PROGRAMME,
}

# The national terms, for the Japanese catalogue and the tests: a label's Japanese must be this.
NATIONAL_TERMS = {
    "personal_family": dict(PersonalFamily.choices),
    "contribution_ratio": dict(ContributionRatio.choices),
    "reason_of_loss": dict(ReasonOfLoss.choices),
    "card_classification": dict(CardClassification.choices),
    "classification": dict(LimitClassification.choices),
    "disease_category": dict(SpecificDiseaseCategory.choices),
    "programme": dict(PublicExpenseProgramme.choices),
}


def checkup_name(item):
    """The display name of a checkup item (reference_data.CheckupItem)."""
    return CHECKUP_NAMES.get(item.key, item.name)


def label(field: str, code: str):
    """The display label of a registry code (the code itself if it has none)."""
    return BY_FIELD.get(field, {}).get(code, code)
