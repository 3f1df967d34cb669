"""Widget visitors: sessions, identity, sending, history, the email they leave. Writes live here.

A visitor holds an opaque token (we store only its sha256). Their widget identity (kind
`widget`, address = the visitor's public id) belongs to a contact of its own, or — when the host
site vouches for them with a valid HMAC of their user id — to the contact that owns the
`user_id` identity, so an agent sees that user's chats across devices and channels in one
timeline. What a visitor may see is decided here (`visitor_conversation_ids`), never by the
contact alone: a merged contact does not show one visitor another visitor's conversations.
"""

from django.utils import timezone  # noqa: F401 - tests patch apps.widget.services.timezone.now

from apps.widget.services.administration import (  # noqa: F401
    WIDGET_FIELDS,
    _require_admin,
    embed_snippet,
    hmac_recipes,
    user_id_identity_add,
    widget_settings_update,
)
from apps.widget.services.common import (  # noqa: F401
    _FILE_SALT,
    CLIENT_ID_MAX,
    FILE_URL_MAX_AGE,
    NAME_MAX,
    TOKEN_BYTES,
    USER_ID_MAX,
    WidgetError,
    _clean_str,
    _rule,
    connect_rate_check,
    connect_rule,
    email_normalize,
    inbox_data,
    inbox_for_key,
    inbox_online,
    inbox_open,
    limits_data,
    log,
    message_rate_check,
    message_rule,
    rate_limited,
    token_hash,
    user_hash,
    user_hash_valid,
    visitor_admit,
    visitor_data,
    widget_settings_for,
)
from apps.widget.services.seen import (  # noqa: F401
    SOCKET_PRESENCE_TTL,
    _presence_key,
    visitor_message_ids_seen,
    visitor_messages_seen,
    visitor_socket_connected,
    visitor_socket_gone,
    visitor_socket_touch,
)
from apps.widget.services.send import (  # noqa: F401
    _read_uploads,
    visitor_message_send,
)
from apps.widget.services.session import (  # noqa: F401
    Session,
    _email_claim,
    _user_contact,
    visitor_for_token,
    visitor_session,
    visitor_set_email,
)
from apps.widget.services.visibility import (  # noqa: F401
    _STATUS,
    _agent_name,
    _author_name,
    _conversations_q,
    _names,
    _signed_url,
    _visible_messages,
    attachment_from_signed,
    attachment_url,
    client_id_of,
    visitor_conversation_ids,
    visitor_event_message,
    visitor_message_data,
    visitor_messages_page,
    visitor_owns_conversation,
)
