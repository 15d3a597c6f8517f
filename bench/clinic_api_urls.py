"""The project's URLs plus GET /bench/bare for bench/clinic_api.py.

The bare endpoint runs through the same server, middleware and DRF, without authentication,
consent or database, so eligibility checks can be reported as a ratio of what the stack serves.
"""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare", BareView.as_view()), path("", include("homeconsent.urls"))]
