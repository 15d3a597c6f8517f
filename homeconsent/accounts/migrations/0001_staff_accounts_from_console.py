# The staff models moved here from the console app (clinicapi.console). Their tables keep their
# names, so this migration only takes them over in Django's state; databases are not touched.
# It runs after the console's migration that created the tables, and before the one that lets go.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("registry", "0001_initial"),
        ("console", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="StaffMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("role", models.CharField(choices=[("institution_admin", "管理者"), ("staff", "職員")], default="staff", max_length=20, verbose_name="役割")),
                        ("created_at", models.DateTimeField()),
                        ("failed_attempts", models.PositiveIntegerField(default=0)),
                        ("locked_until", models.DateTimeField(blank=True, null=True)),
                        ("session_generation", models.PositiveIntegerField(default=0)),
                        ("institution", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="console_staff", to="registry.institution")),
                        ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="console_staff", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "console_staffmembership"},
                ),
                migrations.CreateModel(
                    name="EnrolmentLink",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("token_hash", models.CharField(max_length=64, unique=True)),
                        ("created_at", models.DateTimeField()),
                        ("expires_at", models.DateTimeField()),
                        ("used_at", models.DateTimeField(blank=True, null=True)),
                        ("created_by", models.CharField(max_length=150)),
                        ("membership", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="enrolment_links", to="accounts.staffmembership")),
                    ],
                    options={"db_table": "console_enrolmentlink"},
                ),
            ],
            database_operations=[],
        ),
    ]
