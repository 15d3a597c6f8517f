"""Reference data for the synthetic registry: prefectures, names, the drug master, procedures and
checkup items. One home for these masters; the seeder only draws from them.

Provenance.
- Drugs: every product is a row of the official masters as published for 2026-09-30, read from a
  public verbatim copy (github.com/shiro46mt/jp-medicine-master-data): the SSK receipt-system drug
  master (data/y/2026/20260930.csv: 医薬品コード, 漢字名称, 単位, price as of 2026-04-01, 薬価基準収載
  医薬品コード) and, where noted, the MEDIS HOT code master (data/hot9/20260930.csv, linking receipt
  code and YJ code). ``yj_code`` is the product's own 12-character code where the product is listed
  individually (for such products the price-list code and the YJ code are the same row value); it is
  empty where the master lists the product under a shared generic-name code (商品名等関連 8), since
  the product's own YJ code was not confirmed. Names are the master's 漢字名称, full-width as printed
  on receipts. Prices change every April: re-read the masters before using the figures for anything
  but a demo.
- Checkup item codes (JLAC10, 17 characters) were checked against several independent public
  implementations of the 特定健診 XML format. Procedure codes with ``verified=True`` appear with the same
  name in at least two independent public receipt implementations; the others (外来管理加算, 在宅患者
  訪問診療料) in one. Points are those of the 2024 fee schedule; check codes and points against the SSK
  診療行為 master (and the June 2026 revision) before any real use.
"""

from dataclasses import dataclass
from decimal import Decimal

# --- prefectures (JIS X 0401 code, name, capital, relative population in 100,000s ~2020) ------

PREFECTURES = [
    ("01", "北海道", "札幌市", 52),
    ("02", "青森県", "青森市", 12),
    ("03", "岩手県", "盛岡市", 12),
    ("04", "宮城県", "仙台市", 23),
    ("05", "秋田県", "秋田市", 10),
    ("06", "山形県", "山形市", 11),
    ("07", "福島県", "福島市", 18),
    ("08", "茨城県", "水戸市", 29),
    ("09", "栃木県", "宇都宮市", 19),
    ("10", "群馬県", "前橋市", 19),
    ("11", "埼玉県", "さいたま市", 73),
    ("12", "千葉県", "千葉市", 63),
    ("13", "東京都", "新宿区", 140),
    ("14", "神奈川県", "横浜市", 92),
    ("15", "新潟県", "新潟市", 22),
    ("16", "富山県", "富山市", 10),
    ("17", "石川県", "金沢市", 11),
    ("18", "福井県", "福井市", 8),
    ("19", "山梨県", "甲府市", 8),
    ("20", "長野県", "長野市", 20),
    ("21", "岐阜県", "岐阜市", 20),
    ("22", "静岡県", "静岡市", 36),
    ("23", "愛知県", "名古屋市", 75),
    ("24", "三重県", "津市", 18),
    ("25", "滋賀県", "大津市", 14),
    ("26", "京都府", "京都市", 26),
    ("27", "大阪府", "大阪市", 88),
    ("28", "兵庫県", "神戸市", 55),
    ("29", "奈良県", "奈良市", 13),
    ("30", "和歌山県", "和歌山市", 9),
    ("31", "鳥取県", "鳥取市", 6),
    ("32", "島根県", "松江市", 7),
    ("33", "岡山県", "岡山市", 19),
    ("34", "広島県", "広島市", 28),
    ("35", "山口県", "山口市", 13),
    ("36", "徳島県", "徳島市", 7),
    ("37", "香川県", "高松市", 10),
    ("38", "愛媛県", "松山市", 13),
    ("39", "高知県", "高知市", 7),
    ("40", "福岡県", "福岡市", 51),
    ("41", "佐賀県", "佐賀市", 8),
    ("42", "長崎県", "長崎市", 13),
    ("43", "熊本県", "熊本市", 17),
    ("44", "大分県", "大分市", 11),
    ("45", "宮崎県", "宮崎市", 11),
    ("46", "鹿児島県", "鹿児島市", 16),
    ("47", "沖縄県", "那覇市", 15),
]
PREFECTURE_NAMES = {code: name for code, name, _, _ in PREFECTURES}
# 全国地方公共団体コード (without its check digit) of the city each prefecture's synthetic persons live in.
CITY_CODES = {
    "01": "01100",
    "02": "02201",
    "03": "03201",
    "04": "04100",
    "05": "05201",
    "06": "06201",
    "07": "07201",
    "08": "08201",
    "09": "09201",
    "10": "10201",
    "11": "11100",
    "12": "12100",
    "13": "13104",
    "14": "14100",
    "15": "15100",
    "16": "16201",
    "17": "17201",
    "18": "18201",
    "19": "19201",
    "20": "20201",
    "21": "21201",
    "22": "22100",
    "23": "23100",
    "24": "24201",
    "25": "25201",
    "26": "26100",
    "27": "27100",
    "28": "28100",
    "29": "29201",
    "30": "30201",
    "31": "31201",
    "32": "32201",
    "33": "33100",
    "34": "34100",
    "35": "35203",
    "36": "36201",
    "37": "37201",
    "38": "38201",
    "39": "39201",
    "40": "40130",
    "41": "41201",
    "42": "42201",
    "43": "43100",
    "44": "44201",
    "45": "45201",
    "46": "46201",
    "47": "47201",
}

# --- age pyramid: population by 5-year band, millions, Japan ~2020 (rounded) -----------------
AGE_BANDS = [
    (0, 4, 4.5),
    (5, 9, 5.0),
    (10, 14, 5.3),
    (15, 19, 5.7),
    (20, 24, 6.3),
    (25, 29, 6.3),
    (30, 34, 6.8),
    (35, 39, 7.6),
    (40, 44, 8.5),
    (45, 49, 9.8),
    (50, 54, 8.8),
    (55, 59, 7.9),
    (60, 64, 7.4),
    (65, 69, 8.2),
    (70, 74, 9.6),
    (75, 79, 7.1),
    (80, 84, 5.4),
    (85, 89, 3.8),
    (90, 94, 1.9),
    (95, 99, 0.5),
    (100, 100, 0.08),
]

# --- names: (kanji, katakana) -------------------------------------------------------------------
SURNAMES = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
    ("西村", "ニシムラ"),
    ("藤井", "フジイ"),
    ("金子", "カネコ"),
    ("岡本", "オカモト"),
    ("藤原", "フジワラ"),
    ("中野", "ナカノ"),
    ("三浦", "ミウラ"),
    ("原田", "ハラダ"),
    ("松田", "マツダ"),
    ("竹内", "タケウチ"),
    ("中川", "ナカガワ"),
    ("小野", "オノ"),
    ("田村", "タムラ"),
    ("和田", "ワダ"),
    ("石田", "イシダ"),
    ("上田", "ウエダ"),
    ("森田", "モリタ"),
    ("比嘉", "ヒガ"),
]
# Given names by sex and by birth era (before 1960, 1960-1989, 1990 on).
GIVEN_NAMES = {
    "1": [
        [
            ("清", "キヨシ"),
            ("茂", "シゲル"),
            ("勇", "イサム"),
            ("正", "タダシ"),
            ("実", "ミノル"),
            ("進", "ススム"),
            ("和夫", "カズオ"),
            ("一郎", "イチロウ"),
            ("博", "ヒロシ"),
            ("弘", "ヒロシ"),
            ("武", "タケシ"),
            ("昭", "アキラ"),
        ],
        [
            ("誠", "マコト"),
            ("隆", "タカシ"),
            ("健一", "ケンイチ"),
            ("浩二", "コウジ"),
            ("修", "オサム"),
            ("直樹", "ナオキ"),
            ("達也", "タツヤ"),
            ("大輔", "ダイスケ"),
            ("和也", "カズヤ"),
            ("拓也", "タクヤ"),
            ("剛", "ツヨシ"),
            ("太郎", "タロウ"),
        ],
        [
            ("翔太", "ショウタ"),
            ("健太", "ケンタ"),
            ("蓮", "レン"),
            ("悠真", "ユウマ"),
            ("陽翔", "ハルト"),
            ("大翔", "ヒロト"),
            ("湊", "ミナト"),
            ("樹", "イツキ"),
            ("蒼", "アオイ"),
            ("颯太", "ソウタ"),
            ("悠斗", "ユウト"),
            ("陸", "リク"),
        ],
    ],
    "2": [
        [
            ("トメ", "トメ"),
            ("キヨ", "キヨ"),
            ("千代", "チヨ"),
            ("幸子", "サチコ"),
            ("和子", "カズコ"),
            ("節子", "セツコ"),
            ("文子", "フミコ"),
            ("洋子", "ヨウコ"),
            ("恵子", "ケイコ"),
            ("弘子", "ヒロコ"),
            ("悦子", "エツコ"),
            ("久子", "ヒサコ"),
        ],
        [
            ("久美子", "クミコ"),
            ("由美子", "ユミコ"),
            ("裕子", "ユウコ"),
            ("真由美", "マユミ"),
            ("明美", "アケミ"),
            ("直美", "ナオミ"),
            ("智子", "トモコ"),
            ("陽子", "ヨウコ"),
            ("美穂", "ミホ"),
            ("香織", "カオリ"),
            ("花子", "ハナコ"),
            ("恵", "メグミ"),
        ],
        [
            ("美咲", "ミサキ"),
            ("陽菜", "ヒナ"),
            ("結衣", "ユイ"),
            ("さくら", "サクラ"),
            ("葵", "アオイ"),
            ("凛", "リン"),
            ("結菜", "ユイナ"),
            ("芽依", "メイ"),
            ("彩", "アヤ"),
            ("愛", "アイ"),
            ("舞", "マイ"),
            ("紬", "ツムギ"),
        ],
    ],
}
STREET_PARTS = [
    "中央",
    "本町",
    "緑町",
    "栄町",
    "旭町",
    "東町",
    "西町",
    "南町",
    "北町",
    "桜町",
    "若葉",
    "松が丘",
]

# --- insurer names ------------------------------------------------------------------------------
COMPANY_UNION_NAMES = [
    "日本電工",
    "東洋商事",
    "大和運輸",
    "みらい情報",
    "中央製薬",
    "北斗自動車",
    "旭化工",
    "光精機",
    "富士物産",
    "青葉電機",
    "三つ葉食品",
    "さくら銀行",
]

# --- drug master ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drug:
    key: str
    name: str  # the master's 漢字名称
    ingredient: str
    receipt_code: str  # レセプト電算処理システム用コード (9 digits)
    yj_code: str  # 個別医薬品コード (12 characters), "" where not confirmed (see the module docstring)
    unit: str
    dose_per_day: Decimal
    usage: str
    price_yen: Decimal  # 薬価 per unit as of 2026-04-01, for the expense notices
    chronic: bool = True


# SSK drug master rows (2026-09-30). Receipt code and YJ code of ノルバスク, アムロジン, ムコスタ, タケプロン,
# パリエット, レンドルミン, アダラートＣＲ, カロナール, ロキソニン, ムコダイン and ガスター are also linked by
# their MEDIS HOT9 rows.
DRUGS = [
    Drug(
        "norvasc5",
        "ノルバスク錠５ｍｇ",
        "アムロジピンベシル酸塩",
        "612170710",
        "2171022F2025",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("10.80"),
    ),
    Drug(
        "amlodin2_5",
        "アムロジン錠２．５ｍｇ",
        "アムロジピンベシル酸塩",
        "620005904",
        "2171022F1045",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("10.80"),
    ),
    Drug(
        "blopress8",
        "ブロプレス錠８　８ｍｇ",
        "カンデサルタン　シレキセチル",
        "610432013",
        "2149040F3029",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("27.00"),
    ),
    Drug(
        "adalat_cr20",
        "アダラートＣＲ錠２０ｍｇ",
        "ニフェジピン",
        "610421321",
        "2171014G4029",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("9.50"),
    ),
    Drug(
        "lipitor10",
        "リピトール錠１０ｍｇ",
        "アトルバスタチンカルシウム水和物",
        "610443014",
        "2189015F2020",
        "錠",
        Decimal(1),
        "1日1回夕食後",
        Decimal("16.90"),
    ),
    Drug(
        "basen0_3",
        "ベイスン錠０．３　０．３ｍｇ",
        "ボグリボース",
        "610406391",
        "3969004F2027",
        "錠",
        Decimal(3),
        "1日3回毎食直前",
        Decimal("12.90"),
    ),
    Drug(
        "glycoran250",
        "グリコラン錠２５０ｍｇ",
        "メトホルミン塩酸塩",
        "620004480",
        "3962002F1071",
        "錠",
        Decimal(2),
        "1日2回朝夕食後",
        Decimal("10.50"),
    ),
    Drug(
        "takepron15",
        "タケプロンカプセル１５　１５ｍｇ",
        "ランソプラゾール",
        "612320549",
        "2329023M1020",
        "カプセル",
        Decimal(1),
        "1日1回朝食後",
        Decimal("17.90"),
    ),
    Drug(
        "pariet10",
        "パリエット錠１０ｍｇ",
        "ラベプラゾールナトリウム",
        "610412202",
        "2329028F1023",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("29.00"),
    ),
    Drug(
        "mucosta100",
        "ムコスタ錠１００ｍｇ",
        "レバミピド",
        "620452801",
        "2329021F1102",
        "錠",
        Decimal(3),
        "1日3回毎食後",
        Decimal("10.80"),
    ),
    Drug(
        "gaster20",
        "ガスター錠２０ｍｇ",
        "ファモチジン",
        "612320350",
        "2325003F2020",
        "錠",
        Decimal(2),
        "1日2回朝食後・就寝前",
        Decimal("10.80"),
    ),
    Drug(
        "bayaspirin100",
        "バイアスピリン錠１００ｍｇ",
        "アスピリン",
        "610443053",
        "",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("6.30"),
    ),
    Drug(
        "furosemide40_towa",
        "フロセミド錠４０ｍｇ「トーワ」",
        "フロセミド",
        "620006110",
        "",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("6.80"),
    ),
    Drug(
        "magnesium330_yoshida",
        "酸化マグネシウム錠３３０ｍｇ「ヨシダ」",
        "酸化マグネシウム",
        "620477001",
        "",
        "錠",
        Decimal(3),
        "1日3回毎食後",
        Decimal("6.10"),
    ),
    Drug(
        "aricept5",
        "アリセプト錠５ｍｇ",
        "ドネペジル塩酸塩",
        "610432043",
        "1190012F2022",
        "錠",
        Decimal(1),
        "1日1回朝食後",
        Decimal("53.10"),
    ),
    Drug(
        "lendormin0_25",
        "レンドルミン錠０．２５ｍｇ",
        "ブロチゾラム",
        "620004625",
        "1124009F1223",
        "錠",
        Decimal(1),
        "1日1回就寝前",
        Decimal("10.80"),
    ),
    Drug(
        "myslee5",
        "マイスリー錠５ｍｇ",
        "ゾルピデム酒石酸塩",
        "610443047",
        "1129009F1025",
        "錠",
        Decimal(1),
        "1日1回就寝前",
        Decimal("13.80"),
    ),
    Drug(
        "calonal200",
        "カロナール錠２００　２００ｍｇ",
        "アセトアミノフェン",
        "620002023",
        "1141007F1063",
        "錠",
        Decimal(3),
        "1日3回毎食後",
        Decimal("6.50"),
        chronic=False,
    ),
    Drug(
        "loxonin60",
        "ロキソニン錠６０ｍｇ",
        "ロキソプロフェンナトリウム水和物",
        "620098801",
        "1149019F1560",
        "錠",
        Decimal(3),
        "1日3回毎食後",
        Decimal("10.80"),
        chronic=False,
    ),
    Drug(
        "allegra60",
        "アレグラ錠６０ｍｇ",
        "フェキソフェナジン塩酸塩",
        "610443040",
        "4490023F1024",
        "錠",
        Decimal(2),
        "1日2回朝夕食後",
        Decimal("20.90"),
        chronic=False,
    ),
    Drug(
        "mucodyne500",
        "ムコダイン錠５００ｍｇ",
        "Ｌ－カルボシステイン",
        "610407447",
        "2233002F2022",
        "錠",
        Decimal(3),
        "1日3回毎食後",
        Decimal("10.80"),
        chronic=False,
    ),
]
DRUGS_BY_KEY = {d.key: d for d in DRUGS}
# Chronic regimens: the drugs a long-term patient is typically on, by condition.
REGIMENS = {
    "hypertension": ["norvasc5", "amlodin2_5", "blopress8", "adalat_cr20"],
    "dyslipidemia": ["lipitor10"],
    "diabetes": ["basen0_3", "glycoran250"],
    "stomach": ["takepron15", "pariet10", "mucosta100", "gaster20"],
    "cardio": ["bayaspirin100", "furosemide40_towa"],
    "constipation": ["magnesium330_yoshida"],
    "dementia": ["aricept5"],
    "insomnia": ["lendormin0_25", "myslee5"],
}
ACUTE_DRUGS = ["calonal200", "loxonin60", "allegra60", "mucodyne500"]

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
    "house_call": Procedure("114000110", "往診料", 720, verified=True),
    "home_visit": Procedure("114001110", "在宅患者訪問診療料（１）１（同一建物居住者以外の場合）", 888),
    "outpatient_management": Procedure("112011010", "外来管理加算", 52),
    "disease_management": Procedure("113001810", "特定疾患療養管理料（診療所）", 225, verified=True),
    "prescription": Procedure("120002910", "処方箋料（その他）", 60, verified=True),
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
