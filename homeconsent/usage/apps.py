from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "homeconsent.usage"
    label = "usage"
    verbose_name = "利用状況 / Usage statistics"
