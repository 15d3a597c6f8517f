"""django.contrib.admin with the operator site (admin_site.OperatorAdminSite) as admin.site.

Its own module: an AppConfig is imported before the models are ready, the site's forms after."""

from django.contrib.admin.apps import AdminConfig


class OperatorAdminConfig(AdminConfig):
    default_site = "homeconsent.admin_site.OperatorAdminSite"
