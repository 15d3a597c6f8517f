from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from homeconsent import views

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("text-size/", views.text_size, name="text_size"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("clinicapi.urls")),
    path("consent/api/v1/", include("homeconsent.consent.api_urls")),
    path("portal/", include("portal.urls")),
    path("console/", include("clinicapi.console.urls")),
    path("consent/", include("homeconsent.consent.urls")),
]

handler400 = "homeconsent.views.bad_request"
handler403 = "homeconsent.views.permission_denied"
handler404 = "homeconsent.views.page_not_found"
handler500 = "homeconsent.views.server_error"
