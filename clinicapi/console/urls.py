from django.urls import path

from . import special_views, views

app_name = "console"

urlpatterns = [
    path("", views.board, name="board"),
    path("signin/", views.signin, name="signin"),
    path("signin/code/", views.signin_code, name="signin_code"),
    path("signout/", views.signout, name="signout"),
    path("signout/everywhere/", views.signout_everywhere, name="signout_everywhere"),
    path("enrol/totp/", views.enrol_totp, name="enrol_totp"),
    path("enrol/<str:token>/", views.enrol, name="enrol"),
    path("events.json", views.events, name="events"),
    path("entry/", views.entry_card, name="entry"),
    path("entry/rotate/", views.entry_rotate, name="entry_rotate"),
    path("patients/", views.patients, name="patients"),
    path("patients/<int:consent_id>/", views.patient, name="patient"),
    path("patients/<int:consent_id>/requery/", views.patient_requery, name="patient_requery"),
    path("patients/<int:consent_id>/end/", views.patient_end, name="patient_end"),
    path("paper-certificate/", views.paper_certificate, name="paper_certificate"),
    path("clients/", views.clients, name="clients"),
    path("clients/<str:client_id>/revoke/", views.client_revoke, name="client_revoke"),
    path("staff/", views.staff_list, name="staff"),
    # 救急時・災害時 (issue 16)
    path("emergency/", special_views.emergency, name="emergency"),
    path("emergency/report/", special_views.emergency_report, name="emergency_report"),
    path("emergency/staff/", special_views.emergency_staff, name="emergency_staff"),
    path("emergency/<str:token>/", special_views.emergency_view, name="emergency_view"),
    path("disaster/", special_views.disaster, name="disaster"),
    path("disaster/<str:token>/", special_views.disaster_view, name="disaster_view"),
]
