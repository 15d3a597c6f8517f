from django.urls import path

from . import notices, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("signin/", views.signin, name="signin"),
    path("signout/", views.signout, name="signout"),
    path("card/<slug:action>/challenge", views.card_challenge, name="card_challenge"),
    path("card/<slug:action>/answer", views.card_answer, name="card_answer"),
    path("card/<slug:action>/app", views.app_start, name="app_start"),
    path("card/<slug:action>/app/done", views.app_done, name="app_done"),
    path("qualifications/", views.qualifications, name="qualifications"),
    path("medication/", views.medication, name="medication"),
    path("checkups/", views.checkups, name="checkups"),
    path("treatment/", views.treatment, name="treatment"),
    path("expenses/", views.expenses, name="expenses"),
    path("expenses.csv", views.expenses_csv, name="expenses_csv"),
    path("consents/", views.consents, name="consents"),
    path("consents/<str:target>/cancel/", views.cancel, name="cancel"),
    path("access/", views.access, name="access"),
    path("links/", views.links, name="links"),
    path("access.csv", views.access_csv, name="access_csv"),
    path("notices/", notices.notice_list, name="notices"),
    path("register/", views.register, name="register"),
    path("register/card/", views.register_card, name="register_card"),
    path("register/done/", views.register_done, name="register_done"),
]
