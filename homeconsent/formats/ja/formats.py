# One date style on every page (consent pages, portal): 2026年11月26日 1時39分.
DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 G時i分"
SHORT_DATETIME_FORMAT = "Y/m/d G:i"
