from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "homeconsent.notices"
    label = "notices"
    verbose_name = "お知らせ / Notices"
