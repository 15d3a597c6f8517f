"""Guards of everything under /api/: a body-size limit, and JSON error bodies even outside DRF."""

import time

from django.conf import settings

from . import errors

# The institutions' API and the telehealth apps' API: machines read these, so even Django's own
# answers (unknown URL, server error) come back as coded JSON.
API_PREFIXES = ("/api/", "/consent/api/")
# Error bodies already in JSON: ours, and FHIR OperationOutcomes (clinicapi.fhir).
JSON_TYPES = ("application/json", "application/fhir+json")
# The batch pre-check submission carries up to 10,000 entries: CLINICAPI_BATCH_MAX_BODY_BYTES.
BATCH_SUBMIT_PATH = "/api/v1/batches"


class ApiGuardMiddleware:
    """413 for a body larger than CLINICAPI_MAX_BODY_BYTES, checked before anything reads it (411 for
    a Transfer-Encoding body without Content-Length, whose size cannot be checked first); and
    404, 405, 500 and the other errors Django answers itself (unknown URL, server error) as JSON.
    Paths outside API_PREFIXES pass untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIXES):
            return self.get_response(request)
        batch = request.path_info == BATCH_SUBMIT_PATH and request.method == "POST"
        limit = settings.CLINICAPI_BATCH_MAX_BODY_BYTES if batch else settings.CLINICAPI_MAX_BODY_BYTES
        if "HTTP_TRANSFER_ENCODING" in request.META and not request.META.get("CONTENT_LENGTH"):
            # A chunked body has no length to check against the limit before it is read.
            return errors.json_error(errors.LENGTH_REQUIRED(), 411)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return errors.json_error(errors.BAD_REQUEST(), 400)
        if length > limit:
            return errors.json_error(errors.REQUEST_TOO_LARGE(limit=limit), 413)
        began = time.perf_counter()
        response = self.get_response(request)
        if batch:
            # W3C Server Timing: the batch's goal is server time, which a client's clock cannot
            # separate from the upload of its 10,000 entries (bench/clinic_api.py reads it). In
            # steps of 10 ms: a finer clock would help tell apart keys of persons without a consent
            # here (a refused log row) from keys of nobody.
            elapsed = round((time.perf_counter() - began) * 100) * 10
            response["Server-Timing"] = f"app;dur={elapsed}"
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(JSON_TYPES):
            return self._as_json(request, response)
        return response

    def _as_json(self, request, response):
        status = response.status_code
        if status == 404:
            error = errors.NOT_FOUND()
        elif status == 405:
            error = errors.METHOD_NOT_ALLOWED(method=request.method)
        elif status == 413:
            error = errors.REQUEST_TOO_LARGE(limit=settings.CLINICAPI_MAX_BODY_BYTES)
        elif status >= 500:
            error = errors.SERVER_ERROR()
        elif status == 400:
            error = errors.BAD_REQUEST()
        else:
            error = errors.HTTP_ERROR(status=status)
        replacement = errors.json_error(error, status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement
