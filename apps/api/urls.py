from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from apps.api import email_views, views, whatsapp_views, widget_views
from apps.api.views import reports as report_views

urlpatterns = [
    path("me", views.MeView.as_view()),
    path("unread", views.UnreadView.as_view()),
    path("conversations", views.ConversationListView.as_view()),
    path("conversations/<int:pk>", views.ConversationDetailView.as_view()),
    path("conversations/<int:pk>/messages", views.ConversationMessagesView.as_view()),
    path("conversations/<int:pk>/read", views.ConversationReadView.as_view()),
    path("conversations/<int:pk>/whatsapp-window", whatsapp_views.ConversationWhatsAppWindowView.as_view()),
    path("whatsapp/templates", whatsapp_views.WhatsAppTemplateListView.as_view()),
    path("whatsapp/templates/sync", whatsapp_views.WhatsAppTemplateSyncView.as_view()),
    path("contacts", views.ContactSearchView.as_view()),
    path("contacts/<int:pk>", views.ContactDetailView.as_view()),
    path("contacts/<int:pk>/conversations", views.ContactConversationsView.as_view()),
    path("contacts/<int:pk>/merge", views.ContactMergeView.as_view()),
    path("contact-merges/<int:pk>/undo", views.ContactUnmergeView.as_view()),
    path("labels", views.LabelListView.as_view()),
    path("canned-responses", views.CannedResponseListView.as_view()),
    path("canned-responses/<int:pk>", views.CannedResponseDetailView.as_view()),
    path("contacts/<int:pk>/timeline", views.ContactTimelineView.as_view()),
    path("agents", views.AgentListView.as_view()),
    path("agents/me/presence", views.PresenceView.as_view()),
    path("teams", views.TeamListView.as_view()),
    path("inboxes", views.InboxListView.as_view()),
    path("events", views.EventListView.as_view()),
    path("attachments/<int:pk>", views.AttachmentDownloadView.as_view(), name="attachment-download"),
    path("messages/<int:pk>/email", email_views.MessageEmailView.as_view()),
    path("messages/<int:pk>/original", email_views.MessageOriginalView.as_view()),
    path("contacts/<int:pk>/identities", email_views.ContactIdentitiesView.as_view()),
    path("inboxes/<int:pk>/widget", widget_views.InboxWidgetView.as_view()),
    path("reports", report_views.ReportView.as_view()),
    path("reports.csv", report_views.ReportCsvView.as_view()),
    path("search", report_views.SearchView.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]
