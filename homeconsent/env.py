"""The settings' reader of the environment: django-environ, refusing a bad value by its name.

django-environ casts values (env.int("X", default=3)) but lets a bad one through as a bare
ValueError ("invalid literal for int()"), for numbers with stray characters dropped ("5s" is 5.0),
and for booleans as False. A deployment with a typo must
instead stop at start-up saying which variable is wrong and what it should look like.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class Env(environ.Env):
    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        if cast is bool and var in self.ENVIRON:
            # Only words that clearly mean yes or no; anything else is a mistake, not "no".
            raw = self.ENVIRON[var].strip().lower()
            if raw not in TRUE | FALSE:
                raise ImproperlyConfigured(
                    f"{var}={self.ENVIRON[var]!r}: use one of 1/0, true/false, yes/no, on/off"
                )
            return raw in TRUE
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (ValueError, TypeError) as exc:
            kind = getattr(cast, "__name__", None) or str(cast)
            raise ImproperlyConfigured(
                f"{var}={self.ENVIRON.get(var)!r} is not a valid {kind} ({exc})"
            ) from None

    def float(self, var, default=environ.Env.NOTSET):
        """A plain decimal number; django-environ would drop stray characters ("5s" -> 5.0)."""
        if var not in self.ENVIRON:
            return super().float(var, default=default)
        try:
            return float(self.ENVIRON[var].strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"{var}={self.ENVIRON[var]!r} is not a number, for example 5 or 2.5"
            ) from None

    def list(self, var, cast=None, default=environ.Env.NOTSET):
        """Comma-separated, each item stripped, empty items dropped."""
        if var not in self.ENVIRON:
            return list(default) if default is not environ.Env.NOTSET else super().list(var, cast, default)
        return [item.strip() for item in self.ENVIRON[var].split(",") if item.strip()]


env = Env()
