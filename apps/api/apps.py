from typing import Any

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "apps.api"
    label = "api"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token

        from apps.accounts.models import Agent
        from apps.api.authentication import token_cache_forget

        # The token cache (apps/api/authentication.py) forgets at once, in this process, an agent
        # that was saved and a token that was deleted; other processes within API_TOKEN_CACHE_SECONDS.
        def agent_saved(sender: Any, instance: Agent, **kwargs: Any) -> None:
            token_cache_forget(agent_id=instance.pk)

        def token_deleted(sender: Any, instance: Token, **kwargs: Any) -> None:
            token_cache_forget(key=instance.key)

        post_save.connect(agent_saved, sender=Agent, dispatch_uid="api.token_cache.agent_saved", weak=False)
        post_delete.connect(token_deleted, sender=Token, dispatch_uid="api.token_cache.token_deleted", weak=False)
