from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "apps.assignment"
    label = "assignment"
