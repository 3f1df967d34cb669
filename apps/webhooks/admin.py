from django.contrib import admin

from apps.webhooks.models import WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("url", "active", "allow_private", "created_at")
    exclude = ("secret", "lease_until", "lease_owner")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("webhook_id", "subscription", "event_type", "state", "attempts", "last_status", "created_at")
    list_filter = ("state", "event_type")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
