"""REST API v1: thin views that parse input, call one service or selector, and serialize."""

from apps.api.views.base import (  # noqa: F401
    API_MAX_BODY,
    BaseAPIView,
    _agent,
    _int_param,
    _item,
    _page,
)
from apps.api.views.contacts import (  # noqa: F401
    ContactConversationsView,
    ContactDetailView,
    ContactMergeView,
    ContactSearchView,
    ContactTimelineView,
    ContactUnmergeView,
    _contact,
)
from apps.api.views.conversations import (  # noqa: F401
    ConversationDetailView,
    ConversationListView,
    ConversationMessagesView,
    ConversationReadView,
    MeView,
    UnreadView,
)
from apps.api.views.desk import (  # noqa: F401
    AgentListView,
    CannedResponseDetailView,
    CannedResponseListView,
    InboxListView,
    LabelListView,
    PresenceView,
    TeamListView,
)
from apps.api.views.events import (  # noqa: F401
    EventListView,
)
from apps.api.views.files import (  # noqa: F401
    AttachmentDownloadView,
)
