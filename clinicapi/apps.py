from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicapiConfig(AppConfig):
    name = "clinicapi"

    def ready(self):
        # Registers the OpenAPI descriptions of the views (drf-spectacular extensions).
        # Registers the system checks of the API settings.
        from . import (
            checks,  # noqa: F401
            schema,  # noqa: F401
        )

        # The one-call reads (PostgreSQL: eligibility, medication) follow the models after every migrate.
        post_migrate.connect(_install_fast_check, sender=self)

    def demo_lines(self, *args, **kwargs) -> list[str]:
        """This side's part of `manage.py demo` (clinicapi/demo.py): the site core asks each app."""
        from .demo import demo_lines

        return demo_lines(*args, **kwargs)


def _install_fast_check(**kwargs):
    from .fastcheck import install_after_migrate  # imported when used: it reaches into every domain app

    install_after_migrate(**kwargs)
