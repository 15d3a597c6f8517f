"""Reference data for the synthetic registry: prefectures, names, the drug master, procedures and
checkup items. One home for these masters; the seeder only draws from them.

Provenance. Checkup item codes (JLAC10, 17 characters) and the 初診料/再診料 procedure codes were
checked against several independent public implementations of the 特定健診 XML and receipt formats.
Drug and procedure entries with ``verified=False`` have real names but codes of the real *shape*
only (receipt code: 9 digits; YJ code: 12 characters whose first 8 are the ingredient and form as
far as we know; the rest synthetic). Check them against the MHLW/SSK masters before any real use.
"""

from dataclasses import dataclass
from decimal import Decimal

# --- prefectures (JIS X 0401 code, name, capital, relative population in 100,000s ~2020) ------

PREFECTURES = [
    ("01", "北海道", "札幌市", 52), ("02", "青森県", "青森市", 12), ("03", "岩手県", "盛岡市", 12),
    ("04", "宮城県", "仙台市", 23), ("05", "秋田県", "秋田市", 10), ("06", "山形県", "山形市", 11),
    ("07", "福島県", "福島市", 18), ("08", "茨城県", "水戸市", 29), ("09", "栃木県", "宇都宮市", 19),
    ("10", "群馬県", "前橋市", 19), ("11", "埼玉県", "さいたま市", 73), ("12", "千葉県", "千葉市", 63),
    ("13", "東京都", "新宿区", 140), ("14", "神奈川県", "横浜市", 92), ("15", "新潟県", "新潟市", 22),
    ("16", "富山県", "富山市", 10), ("17", "石川県", "金沢市", 11), ("18", "福井県", "福井市", 8),
    ("19", "山梨県", "甲府市", 8), ("20", "長野県", "長野市", 20), ("21", "岐阜県", "岐阜市", 20),
    ("22", "静岡県", "静岡市", 36), ("23", "愛知県", "名古屋市", 75), ("24", "三重県", "津市", 18),
    ("25", "滋賀県", "大津市", 14), ("26", "京都府", "京都市", 26), ("27", "大阪府", "大阪市", 88),
    ("28", "兵庫県", "神戸市", 55), ("29", "奈良県", "奈良市", 13), ("30", "和歌山県", "和歌山市", 9),
    ("31", "鳥取県", "鳥取市", 6), ("32", "島根県", "松江市", 7), ("33", "岡山県", "岡山市", 19),
    ("34", "広島県", "広島市", 28), ("35", "山口県", "山口市", 13), ("36", "徳島県", "徳島市", 7),
    ("37", "香川県", "高松市", 10), ("38", "愛媛県", "松山市", 13), ("39", "高知県", "高知市", 7),
    ("40", "福岡県", "福岡市", 51), ("41", "佐賀県", "佐賀市", 8), ("42", "長崎県", "長崎市", 13),
    ("43", "熊本県", "熊本市", 17), ("44", "大分県", "大分市", 11), ("45", "宮崎県", "宮崎市", 11),
    ("46", "鹿児島県", "鹿児島市", 16), ("47", "沖縄県", "那覇市", 15),
]
PREFECTURE_NAMES = {code: name for code, name, _, _ in PREFECTURES}

# --- age pyramid: population by 5-year band, millions, Japan ~2020 (rounded) -----------------
AGE_BANDS = [
    (0, 4, 4.5), (5, 9, 5.0), (10, 14, 5.3), (15, 19, 5.7), (20, 24, 6.3), (25, 29, 6.3),
    (30, 34, 6.8), (35, 39, 7.6), (40, 44, 8.5), (45, 49, 9.8), (50, 54, 8.8), (55, 59, 7.9),
    (60, 64, 7.4), (65, 69, 8.2), (70, 74, 9.6), (75, 79, 7.1), (80, 84, 5.4), (85, 89, 3.8),
    (90, 94, 1.9), (95, 99, 0.5), (100, 100, 0.08),
]

# --- names: (kanji, katakana) -------------------------------------------------------------------
SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"), ("金子", "カネコ"),
    ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("中川", "ナカガワ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("和田", "ワダ"), ("石田", "イシダ"), ("上田", "ウエダ"), ("森田", "モリタ"), ("比嘉", "ヒガ"),
]
# Given names by sex and by birth era (before 1960, 1960-1989, 1990 on).
GIVEN_NAMES = {
    "1": [
        [("清", "キヨシ"), ("茂", "シゲル"), ("勇", "イサム"), ("正", "タダシ"), ("実", "ミノル"), ("進", "ススム"),
         ("和夫", "カズオ"), ("一郎", "イチロウ"), ("博", "ヒロシ"), ("弘", "ヒロシ"), ("武", "タケシ"), ("昭", "アキラ")],
        [("誠", "マコト"), ("隆", "タカシ"), ("健一", "ケンイチ"), ("浩二", "コウジ"), ("修", "オサム"),
         ("直樹", "ナオキ"), ("達也", "タツヤ"), ("大輔", "ダイスケ"), ("和也", "カズヤ"), ("拓也", "タクヤ"),
         ("剛", "ツヨシ"), ("太郎", "タロウ")],
        [("翔太", "ショウタ"), ("健太", "ケンタ"), ("蓮", "レン"), ("悠真", "ユウマ"), ("陽翔", "ハルト"),
         ("大翔", "ヒロト"), ("湊", "ミナト"), ("樹", "イツキ"), ("蒼", "アオイ"), ("颯太", "ソウタ"),
         ("悠斗", "ユウト"), ("陸", "リク")],
    ],
    "2": [
        [("トメ", "トメ"), ("キヨ", "キヨ"), ("千代", "チヨ"), ("幸子", "サチコ"), ("和子", "カズコ"),
         ("節子", "セツコ"), ("文子", "フミコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"), ("弘子", "ヒロコ"),
         ("悦子", "エツコ"), ("久子", "ヒサコ")],
        [("久美子", "クミコ"), ("由美子", "ユミコ"), ("裕子", "ユウコ"), ("真由美", "マユミ"), ("明美", "アケミ"),
         ("直美", "ナオミ"), ("智子", "トモコ"), ("陽子", "ヨウコ"), ("美穂", "ミホ"), ("香織", "カオリ"),
         ("花子", "ハナコ"), ("恵", "メグミ")],
        [("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("さくら", "サクラ"), ("葵", "アオイ"),
         ("凛", "リン"), ("結菜", "ユイナ"), ("芽依", "メイ"), ("彩", "アヤ"), ("愛", "アイ"), ("舞", "マイ"),
         ("紬", "ツムギ")],
    ],
}
STREET_PARTS = ["中央", "本町", "緑町", "栄町", "旭町", "東町", "西町", "南町", "北町", "桜町", "若葉", "松が丘"]

# --- insurer names ------------------------------------------------------------------------------
COMPANY_UNION_NAMES = [
    "日本電工", "東洋商事", "大和運輸", "みらい情報", "中央製薬", "北斗自動車", "旭化工", "光精機",
    "富士物産", "青葉電機", "三つ葉食品", "さくら銀行",
]

# --- drug master ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drug:
    key: str
    name: str
    ingredient: str
    receipt_code: str  # レセプト電算処理システム用コード (9 digits)
    yj_code: str  # 薬価基準収載医薬品コード (12 characters)
    unit: str
    dose_per_day: Decimal
    usage: str
    price_yen: Decimal  # price per unit, for the expense notices
    chronic: bool = True
    verified: bool = False  # see the module docstring


DRUGS = [
    Drug("amlodipine5", "アムロジピン錠5mg", "アムロジピンベシル酸塩", "622081401", "2171022F2101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("10.1")),
    Drug("amlodipine2_5", "アムロジピン錠2.5mg", "アムロジピンベシル酸塩", "622081301", "2171022F1101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("10.1")),
    Drug("candesartan8", "カンデサルタン錠8mg", "カンデサルタンシレキセチル", "622245601", "2149040F3101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("15.8")),
    Drug("olmesartan20", "オルメサルタン錠20mg", "オルメサルタンメドキソミル", "622690501", "2149044F2101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("20.3")),
    Drug("rosuvastatin2_5", "ロスバスタチン錠2.5mg", "ロスバスタチンカルシウム", "622792701", "2189017F1101", "錠",
         Decimal(1), "1日1回夕食後", Decimal("11.2")),
    Drug("atorvastatin10", "アトルバスタチン錠10mg", "アトルバスタチンカルシウム水和物", "622045801", "2189015F2101",
         "錠", Decimal(1), "1日1回夕食後", Decimal("16.7")),
    Drug("metformin250", "メトホルミン塩酸塩錠250mg", "メトホルミン塩酸塩", "622107301", "3962002F1101", "錠",
         Decimal(4), "1日2回朝夕食後", Decimal("10.1")),
    Drug("sitagliptin50", "シタグリプチン錠50mg", "シタグリプチンリン酸塩水和物", "622931101", "3969010F1101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("62.4")),
    Drug("lansoprazole15", "ランソプラゾールOD錠15mg", "ランソプラゾール", "622148201", "2329023F2101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("17.3")),
    Drug("famotidine20", "ファモチジン錠20mg", "ファモチジン", "620008501", "2325003F2101", "錠",
         Decimal(2), "1日2回朝夕食後", Decimal("10.1")),
    Drug("rebamipide100", "レバミピド錠100mg", "レバミピド", "620005301", "2329021F1101", "錠",
         Decimal(3), "1日3回毎食後", Decimal("10.1")),
    Drug("aspirin100", "アスピリン腸溶錠100mg", "アスピリン", "620006601", "3399007H1101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("5.7")),
    Drug("furosemide20", "フロセミド錠20mg", "フロセミド", "620007801", "2139005F1101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("9.8")),
    Drug("magnesium330", "酸化マグネシウム錠330mg", "酸化マグネシウム", "620009201", "2344009F1101", "錠",
         Decimal(3), "1日3回毎食後", Decimal("5.7")),
    Drug("donepezil5", "ドネペジル塩酸塩OD錠5mg", "ドネペジル塩酸塩", "622022701", "1190012F3101", "錠",
         Decimal(1), "1日1回朝食後", Decimal("38.5")),
    Drug("levothyroxine50", "レボチロキシンNa錠50μg", "レボチロキシンナトリウム水和物", "620009901", "2431004F2101",
         "錠", Decimal(1), "1日1回朝食後", Decimal("9.8")),
    Drug("zolpidem5", "ゾルピデム酒石酸塩錠5mg", "ゾルピデム酒石酸塩", "622053101", "1129009F1101", "錠",
         Decimal(1), "1日1回就寝前", Decimal("10.1")),
    # Acute prescriptions.
    Drug("calonal200", "カロナール錠200", "アセトアミノフェン", "620004711", "1141007F1101", "錠",
         Decimal(3), "1日3回毎食後", Decimal("5.9"), chronic=False),
    Drug("loxonin60", "ロキソニン錠60mg", "ロキソプロフェンナトリウム水和物", "620098801", "1149019F1101", "錠",
         Decimal(3), "1日3回毎食後", Decimal("10.1"), chronic=False),
    Drug("fexofenadine60", "フェキソフェナジン塩酸塩錠60mg", "フェキソフェナジン塩酸塩", "622077901", "4490023F1101",
         "錠", Decimal(2), "1日2回朝夕食後", Decimal("14.5"), chronic=False),
    Drug("carbocisteine500", "カルボシステイン錠500mg", "L-カルボシステイン", "620002701", "2233002F2101", "錠",
         Decimal(3), "1日3回毎食後", Decimal("7.4"), chronic=False),
]
DRUGS_BY_KEY = {d.key: d for d in DRUGS}
# Chronic regimens: the drugs a long-term patient is typically on, by condition.
REGIMENS = {
    "hypertension": ["amlodipine5", "amlodipine2_5", "candesartan8", "olmesartan20"],
    "dyslipidemia": ["rosuvastatin2_5", "atorvastatin10"],
    "diabetes": ["metformin250", "sitagliptin50"],
    "stomach": ["lansoprazole15", "famotidine20", "rebamipide100"],
    "cardio": ["aspirin100", "furosemide20"],
    "constipation": ["magnesium330"],
    "dementia": ["donepezil5"],
    "thyroid": ["levothyroxine50"],
    "insomnia": ["zolpidem5"],
}
ACUTE_DRUGS = ["calonal200", "loxonin60", "fexofenadine60", "carbocisteine500"]

# --- procedures (診療行為) --------------------------------------------------------------------


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    points: int
    verified: bool = False


PROCEDURES = {
    "first_visit": Procedure("111000110", "初診料", 291, verified=True),
    "revisit": Procedure("112007410", "再診料", 75, verified=True),
    "house_call": Procedure("114000110", "往診料", 720),
    "home_visit": Procedure("114001110", "在宅患者訪問診療料（１）１（同一建物居住者以外の場合）", 888),
    "outpatient_management": Procedure("112011310", "外来管理加算", 52),
    "disease_management": Procedure("113001810", "特定疾患療養管理料（診療所）", 225),
    "prescription": Procedure("120002910", "処方箋料（その他）", 60),
}

# --- specific health checkup items (JLAC10 17-character item codes) ----------------------------


@dataclass(frozen=True)
class CheckupItem:
    key: str
    code: str
    name: str
    unit: str


CHECKUP_ITEMS = [
    CheckupItem("bmi", "9N011000000000001", "BMI", "kg/m2"),
    CheckupItem("waist", "9N016160100000001", "腹囲（実測）", "cm"),
    CheckupItem("sbp", "9A751000000000001", "収縮期血圧（その他）", "mmHg"),
    CheckupItem("dbp", "9A761000000000001", "拡張期血圧（その他）", "mmHg"),
    CheckupItem("tg", "3F015000002327101", "中性脂肪（トリグリセリド）", "mg/dl"),
    CheckupItem("hdl", "3F070000002327101", "HDLコレステロール", "mg/dl"),
    CheckupItem("ldl", "3F077000002327101", "LDLコレステロール", "mg/dl"),
    CheckupItem("ast", "3B035000002327201", "GOT（AST）", "U/l"),
    CheckupItem("alt", "3B045000002327201", "GPT（ALT）", "U/l"),
    CheckupItem("ggt", "3B090000002327101", "γ-GT（γ-GTP）", "U/l"),
    CheckupItem("fbg", "3D010000001926101", "空腹時血糖", "mg/dl"),
    CheckupItem("hba1c", "3D046000001906202", "HbA1c（NGSP）", "%"),
    CheckupItem("urine_glucose", "1A020000000191111", "尿糖", ""),
    CheckupItem("urine_protein", "1A010000000191111", "尿蛋白", ""),
]
