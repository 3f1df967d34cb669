"""The load balancer lets a reply's files through to the API (docker/nginx.conf)."""

from __future__ import annotations

import re

from django.conf import settings

from apps.api.views import API_MAX_BODY
from tests.test_deploy_config import nginx_block, nginx_text


def test_nginx_lets_a_reply_with_its_files_through():
    server = nginx_block(nginx_text(), r"server")
    location = nginx_block(server, r"location\s+~\s+\^/api/v1/conversations/\\d\+/messages\$")
    assert re.search(r"proxy_pass\s+http://\w+;", location)
    size = re.search(r"client_max_body_size\s+(\d+)m;", location)
    assert size and int(size.group(1)) * 1024 * 1024 >= settings.AGENT_ATTACHMENTS_MAX_BYTES + API_MAX_BODY
