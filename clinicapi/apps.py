from django.apps import AppConfig


class ClinicapiConfig(AppConfig):
    name = "clinicapi"
