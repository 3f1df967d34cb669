"""The local Twilio server speaks the Messages API as Twilio does (protocols.md §2.1-2.2)."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.fakes.twilio_server import FakeTwilio

ACCOUNT = "AC" + "3" * 32


def _post(server: FakeTwilio, data: dict[str, str], auth=(ACCOUNT, "token"), account: str = ACCOUNT):
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{account}/Messages.json", data=data, auth=auth, timeout=5
    )


def test_create_answers_201_with_a_twilio_shaped_message():
    with FakeTwilio(ACCOUNT, "token") as server:
        response = _post(server, {"To": "+14155552671", "From": "+15005550006", "Body": "hi"})
        assert response.status_code == 201
        body = response.json()
        assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
        assert body["status"] == "queued"
        assert (body["to"], body["from"], body["body"]) == ("+14155552671", "+15005550006", "hi")
        assert (body["num_segments"], body["num_media"], body["direction"]) == ("1", "0", "outbound-api")
        assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{body['sid']}.json"
        assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"])
        [recorded] = server.message_posts()
        assert recorded.auth == (ACCOUNT, "token")
        assert recorded.form == {"To": ["+14155552671"], "From": ["+15005550006"], "Body": ["hi"]}


def test_wrong_credentials_answer_401_with_code_20003():
    with FakeTwilio(ACCOUNT, "token") as server:
        for auth in [(ACCOUNT, "wrong"), None]:
            response = _post(server, {"To": "+1", "From": "+1", "Body": "x"}, auth=auth)
            assert response.status_code == 401
            assert response.json()["code"] == 20003
        response = _post(
            server, {"To": "+1", "From": "+1", "Body": "x"}, auth=("AC" + "4" * 32, "token"), account="AC" + "4" * 32
        )
        assert response.status_code == 401
        assert server.messages == {}


def test_missing_body_and_media_answers_21602():
    with FakeTwilio(ACCOUNT, "token") as server:
        response = _post(server, {"To": "+14155552671", "From": "+15005550006"})
        assert response.status_code == 400
        assert response.json()["code"] == 21602


def test_scripted_responses_come_in_order_then_the_default():
    with FakeTwilio(ACCOUNT, "token") as server:
        server.script_error(429, 20429, "Too Many Requests")
        server.script_error(400, 21610, "unsubscribed")
        data = {"To": "+14155552671", "From": "+15005550006", "Body": "hi"}
        codes = [
            (r.status_code, r.json()["code"] if r.status_code != 201 else None)
            for r in (_post(server, data) for _ in range(3))
        ]
        assert codes == [(429, 20429), (400, 21610), (201, None)]
        assert len(server.message_posts()) == 3


def test_media_needs_basic_auth():
    with FakeTwilio(ACCOUNT, "token") as server:
        url = server.add_media(b"jpeg-bytes", "image/jpeg")
        assert requests.get(url, timeout=5).status_code == 401
        response = requests.get(url, auth=(ACCOUNT, "token"), timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.content == b"jpeg-bytes"


def test_a_dropped_answer_accepts_the_message_and_closes_the_connection():
    with FakeTwilio(ACCOUNT, "token") as server:
        server.drop_answers(1)
        data = {"To": "+14155552671", "From": "+15005550006", "Body": "lost answer"}
        with pytest.raises(requests.ConnectionError):
            _post(server, data)
        [sid] = server.dropped_answers
        assert server.messages[sid]["body"] == "lost answer"  # the provider has it: it goes out
        second = _post(server, data)  # only the next `count` answers are lost
        assert second.status_code == 201
        assert sorted(server.messages) == sorted([sid, second.json()["sid"]])


def test_status_callbacks_are_posted_signed_in_order_to_the_status_callback_url():
    from twilio.request_validator import RequestValidator

    posted: list[tuple[str, dict[str, str], str]] = []

    def poster(url: str, params: dict[str, str], signature: str) -> int:
        posted.append((url, params, signature))
        return 200

    with FakeTwilio(ACCOUNT, "token") as server:
        server.post_status_callbacks(("sent", "delivered"), delay=0.01, poster=poster)
        url = "https://desk.example/webhooks/twilio/status"
        sid = _post(server, {"To": "+14155552671", "From": "+15005550006", "Body": "hi", "StatusCallback": url}).json()[
            "sid"
        ]
        _post(server, {"To": "+14155552672", "From": "+15005550006", "Body": "no callback"})
        deadline = time.monotonic() + 5
        while len(server.callbacks) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # nothing more comes
    assert [(c.sid, c.status, c.url, c.outcome) for c in server.callbacks] == [
        (sid, "sent", url, 200),
        (sid, "delivered", url, 200),
    ]
    assert [p["MessageStatus"] for _, p, _ in posted] == ["sent", "delivered"]
    for posted_url, params, signature in posted:
        assert posted_url == url
        assert (params["MessageSid"], params["To"], params["AccountSid"]) == (sid, "+14155552671", ACCOUNT)
        assert RequestValidator("token").validate(url, params, signature)


# --- Content API (WhatsApp templates; channels-next.md §3.3) --------------------------------


def test_content_and_approvals_lists_templates_with_their_whatsapp_status():
    with FakeTwilio(ACCOUNT, "token") as server:
        sid = server.add_content("Order shipped", "Hi {{1}}", variables={"1": "Customer"})
        pending = server.add_content("Promo", "Sale", approval="pending")
        response = requests.get(f"{server.base_url}/v1/ContentAndApprovals", auth=(ACCOUNT, "token"), timeout=5)
        assert response.status_code == 200
        body = response.json()
        assert body["meta"]["key"] == "contents" and body["meta"]["next_page_url"] is None
        by_sid = {c["sid"]: c for c in body["contents"]}
        assert re.fullmatch(r"HX[0-9a-f]{32}", sid)
        assert by_sid[sid]["types"] == {"twilio/text": {"body": "Hi {{1}}"}}
        assert by_sid[sid]["variables"] == {"1": "Customer"}
        assert by_sid[sid]["approval_requests"]["status"] == "approved"
        assert by_sid[pending]["approval_requests"]["status"] == "pending"
        approval = requests.get(
            f"{server.base_url}/v1/Content/{pending}/ApprovalRequests", auth=(ACCOUNT, "token"), timeout=5
        ).json()
        assert approval["whatsapp"]["status"] == "pending"
        refused = requests.get(f"{server.base_url}/v1/Content", auth=(ACCOUNT, "wrong"), timeout=5)
        assert refused.status_code == 401 and refused.json()["code"] == 20003


def test_a_content_sid_send_gets_the_rendered_text_and_refuses_body_or_unknown_sids():
    with FakeTwilio(ACCOUNT, "token") as server:
        sid = server.add_content("Order shipped", "Hi {{1}}, order {{2}}", variables={"1": "C", "2": "#0"})
        to = {"To": "whatsapp:+14155552671", "From": "whatsapp:+15005550006"}
        sent = _post(server, {**to, "ContentSid": sid, "ContentVariables": '{"1": "Jane", "2": "#123"}'})
        assert sent.status_code == 201 and sent.json()["body"] == "Hi Jane, order #123"
        with_body = _post(server, {**to, "ContentSid": sid, "Body": "free text"})
        assert (with_body.status_code, with_body.json()["code"]) == (400, 21619)
        unknown = _post(server, {**to, "ContentSid": "HX" + "0" * 32})
        assert (unknown.status_code, unknown.json()["code"]) == (400, 21655)
