"""Whether a host a customer or a remote server named is on the public internet: the desk never
fetches from its own network, whatever form the address is written in."""

from __future__ import annotations

import pytest

from apps.gateways.http_io import PrivateAddress, address_is_public, checked_addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",  # a cloud's metadata service
        "::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a01:203",  # NAT64 of 10.1.2.3
        "::127.0.0.1",  # IPv4-compatible (deprecated) of 127.0.0.1
        "ff0e::1",  # global-scope multicast
    ],
)
def test_private_addresses_in_any_disguise_are_not_public(address):
    assert address_is_public(address) is False


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:93.184.215.14", "64:ff9b::5db8:d70e"],
)
def test_global_addresses_are_public(address):
    assert address_is_public(address) is True


def test_a_host_that_resolves_to_loopback_is_not_public():
    with pytest.raises(PrivateAddress) as refused:
        checked_addresses("localhost", 443, private_ok=False)
    assert refused.value.address in ("127.0.0.1", "::1")
