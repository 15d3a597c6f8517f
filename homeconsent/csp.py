"""One home for the Content-Security-Policy: no inline script anywhere, nothing from another site.

Pages that talk to the local reader bridge (consent pages, portal) add its WebSocket to connect-src;
a telehealth app's session pages add the app's return origin to form-action. Every other HTML
answer (start page, error pages, admin) gets the default from DefaultPolicyMiddleware.
"""

from django.conf import settings


def policy(*, bridge: bool = False, form_targets=(), inline_styles: bool = False) -> str:
    connect = "'self'"
    if bridge:
        connect += f" ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}"
    form_action = " ".join(["'self'", *form_targets])
    # Django's admin sets a few style attributes; scripts stay 'self' only there too.
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        f"default-src 'self'; script-src 'self'; style-src {style}; img-src 'self' data:; "
        f"connect-src {connect}; form-action {form_action}; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    )


class DefaultPolicyMiddleware:
    """Give every HTML answer without a policy of its own the strict default."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get("Content-Type", "").startswith(
            "text/html"
        ):
            response["Content-Security-Policy"] = policy(
                inline_styles=request.path_info.startswith("/admin/")
            )
        return response
