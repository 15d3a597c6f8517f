"""Routes of the telehealth apps' API, included under /consent/api/v1/."""

from django.urls import path, re_path

from . import api

app_name = "consent_api"

urlpatterns = [
    path("sessions", api.SessionListView.as_view(), name="sessions"),
    path("sessions/<str:session_id>", api.SessionDetailView.as_view(), name="session"),
    re_path(r"", api.UnknownPathView.as_view(), name="unknown"),  # last: a coded 404 for any other path
]
