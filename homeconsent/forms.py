"""The site-wide forms, outside any one app's pages: the header's larger-text switch."""

from django import forms


class TextSizeForm(forms.Form):
    """The larger-text switch (large=1 on, anything else off) and the page to go back to."""

    next = forms.CharField(required=False, strip=False)
    large = forms.CharField(required=False)  # "1" only: a BooleanField's checkbox reads "0" as ticked

    def clean_large(self):
        return self.cleaned_data.get("large") == "1"

    def clean_next(self):
        # Only a path on this site: never "//host" (another site) nor a backslash browsers read as "/".
        target = self.cleaned_data.get("next", "")
        safe = target.startswith("/") and not target.startswith("//") and "\\" not in target
        return target if safe else "/"

    def target(self) -> str:
        return self.cleaned_data["next"] if self.is_valid() else "/"

    def large_text(self) -> bool:
        return self.is_valid() and self.cleaned_data["large"]
