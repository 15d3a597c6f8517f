from django.apps import AppConfig


class SpecialAccessConfig(AppConfig):
    name = "homeconsent.special_access"
    label = "special_access"
    verbose_name = "救急時・災害時の閲覧 / Emergency and disaster access"
