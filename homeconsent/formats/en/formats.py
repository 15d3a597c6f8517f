# One date style on every page (consent pages, portal): 26 Nov 2026, 01:39.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
