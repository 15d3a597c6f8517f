from django.apps import AppConfig


class JpkiConfig(AppConfig):
    name = "homeconsent.jpki"
    label = "jpki"
    verbose_name = "Card path (JPKI)"
