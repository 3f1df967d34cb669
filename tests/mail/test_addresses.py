"""The small rules the router and the sender share: subjects, tokens, ids, who gets no answer."""

from __future__ import annotations

import pytest

from apps.mail.addresses import answers_nobody, base_address, clean_ids, reply_token_of, subject_base, subject_tokens


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Router problem", "Router problem"),
        ("Re: Router problem", "Router problem"),
        ("RE: AW: Fwd:  Router   problem [#42]", "Router problem"),
        ("Re[2]: Router problem", "Router problem"),
        ("[#42] Re: Router problem", "Router problem"),
        ("SV: VS: Antw: WG: Router problem", "Router problem"),
        ("回复: Router problem", "Router problem"),
        ("Reply needed", "Reply needed"),
        ("", ""),
    ],
)
def test_subject_base_drops_reply_prefixes_and_our_token(subject, base):
    assert subject_base(subject) == base


def test_subject_tokens_are_read_in_order():
    assert subject_tokens("Re: [#7] about [#12] and #13 [# 14]") == [7, 12]


def test_reply_token_is_32_hex_after_reply_plus_whatever_the_case():
    token = "0123456789abcdef" * 2
    assert reply_token_of(f"reply+{token}@support.example") == token
    assert reply_token_of(f"REPLY+{token.upper()}@Support.Example") == token
    assert reply_token_of(f"reply+{token[:-1]}@support.example") is None
    assert reply_token_of(f"support+{token}@support.example") is None


def test_base_address_drops_the_subaddress():
    assert base_address("Support+Billing@Support.Example") == "support@support.example"


def test_clean_ids_strip_brackets_lower_case_and_dedupe_in_order():
    assert clean_ids(["<B@x>", " a@X ", "<b@x>", "", "<>"]) == ["b@x", "a@x"]


@pytest.mark.parametrize(
    ("address", "nobody"),
    [
        ("jane@customer.example", False),
        ("MAILER-DAEMON@mx.example", True),
        ("postmaster@mx.example", True),
        ("owner-list@lists.example", True),
        ("list-request@lists.example", True),
        ("no-reply@shop.example", True),
        ("noreply@shop.example", True),
        ("donotreply@shop.example", True),
        ("bounces+abc@mail.example", True),
        ("", True),
    ],
)
def test_who_never_gets_an_automatic_answer(address, nobody):
    assert answers_nobody(address) is nobody
