from django.contrib import admin

from apps.contacts.models import Contact, ContactMerge, Identity


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created_at")
    search_fields = ("name", "identities__address")
    inlines = [IdentityInline]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("kind", "address", "contact", "verified", "opted_out")
    list_filter = ("kind", "verified", "opted_out")
    search_fields = ("address",)


admin.site.register(ContactMerge)
