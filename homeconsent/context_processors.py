"""Display preferences every page honours (the header's larger-text switch)."""

LARGE_TEXT_COOKIE = "hc_large_text"


def display(request):
    return {"large_text": request.COOKIES.get(LARGE_TEXT_COOKIE) == "1"}
