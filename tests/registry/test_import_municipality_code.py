"""import_qualifications carries the address's municipality code (what disaster scopes list)."""

from homeconsent.registry.imports import import_qualifications
from homeconsent.registry.models import Person

HEADER = (
    "op,insurer_number,symbol,number,branch,personal_family,name,name_kana,sex,birth_date,acquired_on,"
    "lost_on,reason_of_loss,contribution_ratio,card_classification,address,municipality_code"
)
TARO = "new,01130012,1234,5678,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01,石川県輪島市河井町1,{code}"


def write(tmp_path, *lines):
    path = tmp_path / "q.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_municipality_code_is_imported_and_checked(kyokai, tmp_path):
    bad = import_qualifications(write(tmp_path, HEADER, TARO.format(code="172040")))
    assert [(e.line, e.field, e.code) for e in bad.errors] == [
        (2, "municipality_code", "municipality_code_invalid")
    ]
    assert not Person.objects.exists()
    report = import_qualifications(write(tmp_path, HEADER, TARO.format(code="172049")))
    assert report.applied and Person.objects.get().address_municipality_code == "172049"
