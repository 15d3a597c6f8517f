"""記号 and 番号 stored in one spelling (validation.normalize_card_key), so that lookups written
with half-width digits find rows imported with full-width ones and the other way round."""

import unicodedata

from django.db import migrations

BATCH = 2000


def _normalized(value: str) -> str:
    # A frozen copy of validation.normalize_card_key: a migration must not change with the code.
    return unicodedata.normalize("NFKC", (value or "").strip()).strip()


def normalize_card_keys(apps, schema_editor):
    Qualification = apps.get_model("registry", "Qualification")
    rows = Qualification.objects.using(schema_editor.connection.alias)
    last = 0
    while True:
        # Batches by primary key, each read fully before it is written (SQLite has no isolation
        # between a running cursor and writes to the same table).
        batch = list(rows.filter(pk__gt=last).order_by("pk").only("pk", "symbol", "number")[:BATCH])
        if not batch:
            return
        last = batch[-1].pk
        changed = []
        for q in batch:
            symbol, number = _normalized(q.symbol), _normalized(q.number)
            if (symbol, number) == (q.symbol, q.number) or len(symbol) > 38 or len(number) > 38:
                continue  # already in one spelling (or would no longer fit: left as it is)
            q.symbol, q.number = symbol, number
            changed.append(q)
        if changed:
            rows.bulk_update(changed, ["symbol", "number"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(normalize_card_keys, migrations.RunPython.noop, elidable=True)]
