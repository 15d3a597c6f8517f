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

    def demo_lines(self, *args, **kwargs) -> list[str]:
        """This side's part of `manage.py demo` (clinicapi/demo.py): the site core asks each app."""
        from .demo import demo_lines

        return demo_lines(*args, **kwargs)
