# The staff models now live in homeconsent.accounts (same tables): the console lets go of them in
# Django's state only; the tables stay.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_initial"),
        ("accounts", "0001_staff_accounts_from_console"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="EnrolmentLink"),
                migrations.DeleteModel(name="StaffMembership"),
            ],
            database_operations=[],
        ),
    ]
