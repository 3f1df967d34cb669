"""REST API v1, email and files: a mail's details and raw original, an email address added to a
contact, and replies with attached files (multipart on POST conversations/<id>/messages)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import selectors
from apps.api.errors import error_response
from apps.api.serializers import IdentitySerializer
from apps.api.views import BaseAPIView, _agent
from apps.mail.selectors import email_details, email_message_visible, email_original
from apps.mail.services import email_identity_add
from apps.widget.services import user_id_identity_add


class EmailPersonSerializer(serializers.Serializer):
    address = serializers.CharField()
    name = serializers.CharField(allow_blank=True)


class EmailDetailsSerializer(serializers.Serializer):
    message = serializers.IntegerField()
    subject = serializers.CharField(allow_blank=True)
    message_id = serializers.CharField(allow_blank=True, help_text="The mail's Message-ID, without angle brackets.")
    in_reply_to = serializers.ListField(child=serializers.CharField())
    references = serializers.ListField(child=serializers.CharField())
    to = EmailPersonSerializer(many=True)
    cc = EmailPersonSerializer(many=True)
    reply_to = EmailPersonSerializer(many=True)
    date = serializers.DateTimeField(allow_null=True)
    text = serializers.CharField(allow_blank=True, help_text="The full plain text, quoted history included.")
    html = serializers.CharField(
        allow_blank=True,
        help_text="Sanitized HTML; remote images are in data-remote-src (not loaded), inline images point at "
        "/api/v1/attachments/<id>. Render it in a sandboxed frame.",
    )
    auto_reasons = serializers.ListField(child=serializers.CharField())
    suspicious_reason = serializers.CharField(allow_blank=True)
    bounce = serializers.DictField(allow_null=True)  # type: ignore[assignment]
    original_url = serializers.CharField(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = EmailPersonSerializer()  # "from" is a keyword
        return fields


class MessageEmailView(BaseAPIView):
    @extend_schema(
        responses=EmailDetailsSerializer,
        operation_id="message_email",
        description="The email behind a message (subject, people, full text, sanitized HTML, why it is automatic "
        "or suspicious, a bounce), for agents of its conversation's inbox. 404 for messages that are not email.",
    )
    def get(self, request: Request, pk: int) -> Response:
        record = email_message_visible(agent=_agent(request), message_id=pk)
        if record is None:
            return error_response("not_found", "not found", 404)
        return Response(email_details(record=record))


class MessageOriginalView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("download", bool, description="as a .eml file (message/rfc822)")],
        responses={(200, "text/plain"): bytes},
        operation_id="message_original",
        description="The full raw mail exactly as received (or, for a reply of ours that bounced, the bounce), for "
        "agents of the conversation's inbox.",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        raw = email_original(agent=_agent(request), message_id=pk)
        if raw is None:
            return error_response("not_found", "not found", 404)  # type: ignore[return-value]
        if request.query_params.get("download") in ("1", "true"):
            response = HttpResponse(raw.data, content_type="message/rfc822")
            response["Content-Disposition"] = f'attachment; filename="{raw.filename}"'
        else:
            try:
                raw.data.decode("utf-8")
                charset = "utf-8"
            except UnicodeDecodeError:
                charset = "iso-8859-1"  # every byte shows as something; 8-bit mail is not UTF-8
            response = HttpResponse(raw.data, content_type=f"text/plain; charset={charset}")
        # Never let a browser read a mail as HTML or run anything in it.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["X-Original-Kind"] = raw.what
        return response


class IdentityCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text='"email" (any agent), or "user_id" (administrators: the host site\'s user id, for the widget)'
    )
    address = serializers.CharField(max_length=320)

    def validate_kind(self, value: str) -> str:
        if value not in ("email", "user_id"):
            raise serializers.ValidationError('only "email" and "user_id" identities can be added')
        return value


class ContactIdentitiesView(BaseAPIView):
    @extend_schema(
        request=IdentityCreateSerializer,
        responses={201: IdentitySerializer, 200: IdentitySerializer},
        operation_id="contact_identity_add",
        description="Add an email address the customer gave (e.g. on SMS), so an agent can reply by email. It is "
        "unverified until the customer answers through a reply address we mailed to it. 409 identity_taken when "
        "the address belongs to another contact (merge them instead); 200 when this contact has it already. "
        "Administrators may add kind user_id (the host site's user id): the widget chats of that user, signed "
        "with a valid hash, then join this contact's timeline (403 admin_only for other agents).",
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        form = IdentityCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if form.validated_data["kind"] == "user_id":
            identity, created = user_id_identity_add(
                contact_id=pk, user_id=form.validated_data["address"], by=_agent(request)
            )
        else:
            identity, created = email_identity_add(contact_id=pk, address=form.validated_data["address"])
        return Response(
            IdentitySerializer(identity).data, status=http.HTTP_201_CREATED if created else http.HTTP_200_OK
        )
