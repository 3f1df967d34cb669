import os
from typing import Any

from celery import Celery, signals

from apps.core.logs import task_context_bind, task_context_unbind, task_headers_add

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")

app = Celery("supportdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Log lines of a task carry its request id, conversation id and message id (apps/core/logs.py).
@signals.before_task_publish.connect
def _add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        task_headers_add(headers)


@signals.task_prerun.connect
def _bind_log_context(task_id: str, task: Any, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    task_context_bind(task, task_id, args, kwargs)


@signals.task_postrun.connect
def _unbind_log_context(task_id: str, **_: Any) -> None:
    task_context_unbind(task_id)
