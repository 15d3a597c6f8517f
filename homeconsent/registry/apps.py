from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "homeconsent.registry"
    label = "registry"
    verbose_name = "資格情報 registry"
