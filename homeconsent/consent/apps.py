from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "homeconsent.consent"
    label = "consent"
    verbose_name = "Consent"
