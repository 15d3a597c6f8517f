"""Coded errors with a Japanese and an English message a person can act on.

Each area declares its own codes next to its code (for example registry/codes.py); this module
only gives them one shape, so pages, the API and the commands report every refusal alike.
"""

from dataclasses import dataclass, field

from django.utils import translation


@dataclass(frozen=True)
class ErrorCode:
    code: str
    ja: str
    en: str

    def __call__(self, **params) -> "HomeConsentError":
        return HomeConsentError(self, params)


@dataclass
class HomeConsentError(Exception):
    error: ErrorCode
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        super().__init__(self.error.code)

    @property
    def code(self) -> str:
        return self.error.code

    def message(self, language: str | None = None) -> str:
        language = language or translation.get_language() or "ja"
        template = self.error.en if language.startswith("en") else self.error.ja
        return template.format(**self.params)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message("ja"), "message_en": self.message("en")}

    def __str__(self) -> str:
        return f"{self.code}: {self.message('ja')} / {self.message('en')}"
