from django.db import connection
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from homeconsent.context_processors import LARGE_TEXT_COOKIE
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.forms import TextSizeForm


def healthz(request):
    """Liveness and database reachability, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


# --- site-wide error pages ------------------------------------------------------------------------
# The API (/api/) answers these in JSON (clinicapi.middleware); every other page gets one of these,
# in the visitor's language, with the code a person can quote and a way on.
PAGE_NOT_FOUND = ErrorCode(
    "page_not_found",
    "このページは見つかりません。アドレスをお確かめください。リンクやQRコードから開いた場合は、その発行元に新しいものをお尋ねください。",
    "This page does not exist. Check the address; if you came from a link or QR code, ask whoever gave it to you for a current one.",
)
PAGE_FORBIDDEN = ErrorCode(
    "page_forbidden",
    "このページを見る権限がありません。別の利用者でサインインしている場合は、サインインし直してください。",
    "You are not allowed to see this page. If you are signed in as someone else, sign in again.",
)
BAD_REQUEST_PAGE = ErrorCode(
    "bad_request",
    "送られた内容を受け付けられませんでした。前のページに戻り、もう一度お試しください。",
    "What was sent could not be accepted. Go back to the previous page and try again.",
)
CSRF_FAILED = ErrorCode(
    "form_expired",
    "画面を開いてから時間がたったか、ブラウザーがクッキーを受け付けていないため、送信できませんでした。前のページに戻り、ページを再読み込みしてから、もう一度お試しください。",
    "The form could not be sent: the page was open for a long time, or the browser does not accept cookies. "
    "Go back, reload the page and try again.",
)
SERVER_ERROR_PAGE = ErrorCode(
    "server_error",
    "サーバーで問題が起きました。入力した内容は保存されていない場合があります。少し待ってからもう一度お試しください。続く場合は、このエラーコードと時刻をお伝えください。",
    "Something went wrong on the server. What you entered may not have been saved. Wait a moment and "
    "try again; if it keeps happening, tell us this error code and the time.",
)

_TITLES = {
    400: (_("The request could not be accepted")),
    403: (_("You cannot open this page")),
    404: (_("Page not found")),
    500: (_("Something went wrong")),
}


def _error_page(request, status: int, error: ErrorCode | HomeConsentError, title=None):
    error = error if isinstance(error, HomeConsentError) else error()
    context = {"status": status, "title": title or _TITLES[status], "error": error, "now": timezone.now()}
    try:
        return render(request, "error.html", context, status=status)
    except Exception:  # noqa: BLE001 - the error page must not fail in turn (for example, no database)
        return HttpResponse(
            f"{status} {error.code}\n{error.message('ja')}\n{error.message('en')}\n",
            status=status,
            content_type="text/plain; charset=utf-8",
        )


def page_not_found(request, exception=None):
    return _error_page(request, 404, PAGE_NOT_FOUND)


def permission_denied(request, exception=None):
    return _error_page(request, 403, PAGE_FORBIDDEN)


def bad_request(request, exception=None):
    # A refusal that knows its own code (a date out of range, say) shows it; anything else the general one.
    error = getattr(exception, "error", None)
    return _error_page(request, 400, error if isinstance(error, HomeConsentError) else BAD_REQUEST_PAGE)


def server_error(request):
    return _error_page(request, 500, SERVER_ERROR_PAGE)


def csrf_failure(request, reason=""):
    return _error_page(request, 403, CSRF_FAILED, title=_("The form has expired"))


@require_POST
def text_size(request):
    """The header's larger-text switch: remembered for a year on this device, for every page."""
    form = TextSizeForm(request.POST)
    response = HttpResponseRedirect(form.target())
    if form.large_text():
        response.set_cookie(LARGE_TEXT_COOKIE, "1", max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    else:
        response.delete_cookie(LARGE_TEXT_COOKIE, samesite="Lax")
    return response


def favicon(request):
    """Browsers ask /favicon.ico of every page; answer with the site's icon instead of a 404."""
    return HttpResponseRedirect(static("favicon.svg"))
