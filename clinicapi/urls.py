from django.urls import path

from . import views

app_name = "clinicapi"

urlpatterns = [
    path("auth/token", views.TokenView.as_view(), name="token"),
    path("whoami", views.WhoAmIView.as_view(), name="whoami"),
]
