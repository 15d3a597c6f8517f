from django.urls import path

from . import app_views, views

app_name = "consent"

urlpatterns = [
    path("app/callback", app_views.app_callback, name="app_callback"),
    path("app/jwks.json", app_views.client_jwks_view, name="app_jwks"),
    path("e/<str:token>/", views.entry, name="entry"),
    path("s/<str:session_id>/", views.app_session, name="session"),
    path("s/<str:session_id>/stop", views.app_session_stop, name="session_stop"),
    path("s/<str:session_id>/return", views.app_session_return, name="session_return"),
    path("e/<str:token>/qr.svg", views.entry_qr, name="qr"),
    path("e/<str:token>/problem/<slug:code>/", views.problem, name="problem"),
    path("e/<str:token>/mine/consents/", views.mine, name="mine"),
    path("e/<str:token>/mine/cancel-all/", views.cancel_all, name="cancel_all"),
    path("e/<str:token>/telehealth/date/", views.visit_date, name="visit_date"),
    path("e/<str:token>/<slug:flow>/", views.about, name="about"),
    path("e/<str:token>/<slug:flow>/items/", views.items, name="items"),
    path("e/<str:token>/<slug:flow>/limit/", views.limit, name="limit"),
    path("e/<str:token>/<slug:flow>/confirm/", views.confirm, name="confirm"),
    path("e/<str:token>/<slug:flow>/card/", views.card, name="card"),
    path("e/<str:token>/<slug:flow>/challenge", views.challenge, name="challenge"),
    path("e/<str:token>/<slug:flow>/answer", views.answer, name="answer"),
    path("e/<str:token>/<slug:flow>/done/", views.done, name="done"),
    path("e/<str:token>/<slug:flow>/app", views.app_start, name="app_start"),
    path("e/<str:token>/<slug:flow>/app/done", views.app_done, name="app_done"),
]
