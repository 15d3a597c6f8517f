"""PostgreSQL: how many distinct persons the medical tables hold, as a share of their rows.

ANALYZE estimates a column's distinct values from a 30,000-row sample, which undercounts persons
badly once the tables hold millions of rows (32,561 estimated against about 280,000 at 16 million
medication rows). The planner then expects hundreds of rows per person and joins the institutions
by scanning all of them: a patient's medication read went from under 1 ms to over 200 ms. A person
has tens of rows in each table whatever the registry's size, so the share is fixed here (negative
n_distinct: a fraction of the rows), as measured on the seeded registry.
"""

from django.db import migrations

PERSONS_PER_ROW = {
    "registry_medicationrecord": 0.0166,
    "registry_treatmentrecord": 0.0188,
    "registry_expensenotice": 0.0209,
    "registry_checkupresult": 0.0254,
}


def set_n_distinct(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, share in PERSONS_PER_ROW.items():
        schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN person_id SET (n_distinct = -{share})')
        schema_editor.execute(f'ANALYZE "{table}"')


def reset_n_distinct(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PERSONS_PER_ROW:
        schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN person_id RESET (n_distinct)')


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_public_expense_certificate")]

    operations = [migrations.RunPython(set_n_distinct, reset_n_distinct, elidable=False)]
