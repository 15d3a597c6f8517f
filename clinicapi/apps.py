from django.apps import AppConfig


class ClinicapiConfig(AppConfig):
    name = "clinicapi"

    def ready(self):
        # Registers the OpenAPI descriptions of the views (drf-spectacular extensions).
        # Registers the system checks of the API settings.
        from . import (
            checks,  # noqa: F401
            schema,  # noqa: F401
        )
