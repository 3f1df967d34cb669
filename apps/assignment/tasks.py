from celery import shared_task

from apps.assignment import services


@shared_task(name="apps.assignment.tasks.presence_expire")
def presence_expire() -> int:
    return services.presence_expire()


@shared_task(name="apps.assignment.tasks.assignment_drain")
def assignment_drain_task() -> int:
    return services.assignment_drain()
