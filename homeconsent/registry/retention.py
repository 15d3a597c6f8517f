"""How far back medical information is kept and provided (domain facts): medication and treatment
three years, specific health checkups five. The institutions' API and the portal both look back
this far; one home, so they cannot drift apart."""

MEDICATION_YEARS = 3
TREATMENT_YEARS = 3
CHECKUP_YEARS = 5
