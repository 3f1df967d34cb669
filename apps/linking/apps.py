from django.apps import AppConfig


class LinkingConfig(AppConfig):
    name = "apps.linking"
    label = "linking"
    verbose_name = "Social account linking"
    default_auto_field = "django.db.models.BigAutoField"
