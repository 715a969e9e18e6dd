"""Pure logic of scloud_api.callbacks: which URLs and which addresses a callback may go to, and the
request that connects to the checked address (the API tier tests the delivery itself)."""

from __future__ import annotations

import ipaddress
import socket
import time

import httpx
import pytest
from pydantic import ValidationError
from scloud_api.callbacks import (
    Refused,
    address_refusal,
    check_callback_url,
    check_url,
    checked_addresses,
    origin,
    pinned_request,
    sign,
    verify,
)
from scloud_api.errors import Invalid
from scloud_api.settings import Settings

NONE: list[str] = []
ANY = ["0.0.0.0/0", "::/0"]
LOOPBACK = ["127.0.0.0/8", "::1/128"]
LAB = ["192.0.2.0/24", "2001:db8::/32"]


def networks(nets: list[str]):
    # Through Settings: the operator's entries are parsed (and IPv4-mapped ones unmapped) there.
    return Settings(state_dir="/nonexistent", callback_allowed_networks=nets).allowed_networks


@pytest.mark.parametrize(
    ("address", "nets", "allowed"),
    [
        # Loopback: only through an entry inside a loopback network, never through 0.0.0.0/0.
        ("127.0.0.1", NONE, False),
        ("127.0.0.1", ANY, False),
        ("127.0.0.1", ["0.0.0.0/1"], False),
        ("127.0.0.1", LOOPBACK, True),
        ("127.9.9.9", ["127.0.0.1/32"], False),
        ("127.0.0.1", ["127.0.0.1/32"], True),
        ("::1", ANY, False),
        ("::1", LOOPBACK, True),
        ("::1", ["127.0.0.0/8"], False),
        # IPv4-mapped IPv6 is the IPv4 address it maps.
        ("::ffff:127.0.0.1", ANY, False),
        ("::ffff:127.0.0.1", LOOPBACK, True),
        ("::ffff:127.0.0.1", ["::ffff:127.0.0.0/104"], True),
        ("::ffff:169.254.169.254", ANY, False),
        ("::ffff:192.0.2.7", LAB, True),
        ("::ffff:192.0.2.7", ["::ffff:192.0.2.0/120"], True),
        # Link-local (the cloud metadata service lives there).
        ("169.254.169.254", ANY, False),
        ("169.254.169.254", ["169.254.0.0/16"], True),
        ("169.254.169.254", ["169.254.169.254/32"], True),
        ("fe80::1", ANY, False),
        ("fe80::1%eth0", ANY, False),
        ("fe80::1", ["fe80::/10"], True),
        # Unspecified (connects to this host), multicast, broadcast.
        ("0.0.0.0", ANY, False),
        ("0.0.0.0", LOOPBACK, False),
        ("0.0.0.0", ["0.0.0.0/32"], True),
        ("0.1.2.3", ANY, False),
        ("::", ANY, False),
        ("224.0.0.1", ANY, False),
        ("239.1.2.3", ["224.0.0.0/4"], True),
        ("ff02::1", ANY, False),
        ("255.255.255.255", ANY, False),
        # Ordinary addresses: inside an allowed network or not.
        ("192.0.2.7", LAB, True),
        ("192.0.2.7", ANY, True),
        ("198.51.100.1", LAB, False),
        ("10.0.0.1", LOOPBACK, False),
        ("10.0.0.1", NONE, False),
        ("2001:db8::1", LAB, True),
        ("2001:db8::1", ["192.0.2.0/24"], False),
        ("2a00:1450::1", ANY, True),
    ],
)
def test_address_allow_list(address, nets, allowed):
    reason = address_refusal(ipaddress.ip_address(address), networks(nets))
    if allowed:
        assert reason is None
    else:
        ip = ipaddress.ip_address(address)
        shown = str(getattr(ip, "ipv4_mapped", None) or ip)  # 3.11 prints ::ffff:7f00:1: the IPv4 form too
        assert reason is not None and shown in reason


def test_special_address_refusal_says_what_to_list():
    reason = address_refusal(ipaddress.ip_address("127.0.0.1"), networks(ANY))
    assert "loopback" in reason and "127.0.0.0/8" in reason
    reason = address_refusal(ipaddress.ip_address("169.254.169.254"), networks(ANY))
    assert "link-local" in reason and "169.254.0.0/16" in reason


@pytest.fixture(scope="module")
def settings():
    return Settings(
        state_dir="/nonexistent",
        callback_allowed_networks=["192.0.2.0/24", "127.0.0.0/8"],
        callback_allowed_hosts=["hooks.example", "*.ci.example", "Bücher.example"],
    )


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:8000/hook", None),
        ("http://192.0.2.7/hook?x=1", None),
        ("http://[::ffff:127.0.0.1]:8000/hook", None),
        ("https://hooks.example/x", None),
        ("https://HOOKS.example:8443/x", None),
        ("https://a.ci.example/x", None),
        ("https://bücher.example/x", None),
        ("http://[::1]:9/x", "allow_list"),
        ("http://0.0.0.0:9/x", "allow_list"),
        ("http://169.254.169.254/latest/meta-data/", "allow_list"),
        ("http://[::ffff:169.254.169.254]/", "allow_list"),
        ("http://10.0.0.1/x", "allow_list"),
        ("https://example.com/x", "allow_list"),
        ("https://ci.example.evil/x", "allow_list"),
        ("https://hooks.example./x", "allow_list"),
        # Not IP literals to Python, but names to getaddrinfo: checked on their addresses when called.
        ("http://127.1/x", "allow_list"),
        ("http://2130706433/x", "allow_list"),
        ("ftp://127.0.0.1/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://u:p@127.0.0.1/", "url"),
        ("http:///nohost", "url"),
        ("http://127.0.0.1:99999/", "url"),
        ("http://127.0.0.1:0/", "url"),
        ("http://127.0.0.1:-1/", "url"),
        ("http://127.0.0.1/\nx", "url"),
        ("http://127.0.0.1/" + "x" * 2000, "max_length"),
    ],
)
def test_url_allow_list(settings, url, rule):
    if rule is None:
        assert check_callback_url(url, settings) == url
        return
    with pytest.raises(Invalid) as exc:
        check_callback_url(url, settings, ["header", "X-Callback-URL"])
    assert exc.value.code == "callback_url_refused"
    assert exc.value.errors == [
        {"loc": ["header", "X-Callback-URL"], "rule": rule, "msg": exc.value.errors[0]["msg"]}
    ]


def test_nothing_is_called_by_default():
    settings = Settings(state_dir="/nonexistent")
    assert settings.callback_allowed_networks == [] and settings.callback_allowed_hosts == []
    for url in ("http://127.0.0.1/x", "http://localhost/x", "https://hooks.example/x"):
        with pytest.raises(Refused) as exc:
            check_url(url, settings)
        assert exc.value.rule == "allow_list"
        assert "not on the callback allow-list" in exc.value.msg


def test_a_listed_name_needs_a_listed_network():
    settings = Settings(state_dir="/nonexistent", callback_allowed_hosts=["localhost"])
    with pytest.raises(Refused, match="no callback network is"):
        check_url("http://localhost:9/x", settings)


@pytest.mark.parametrize("host", ["http://x.example", "x.example:80", "x.example/p", "", "a b"])
def test_host_entries_are_names(host):
    with pytest.raises(ValidationError, match="callback_allowed_hosts"):
        Settings(state_dir="/nonexistent", callback_allowed_hosts=[host])


def test_network_entries_are_networks():
    with pytest.raises(ValidationError, match="callback_allowed_networks"):
        Settings(state_dir="/nonexistent", callback_allowed_networks=["localhost"])


def _info(addr: str, port: int = 80):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)


def test_every_resolved_address_is_checked():
    url = httpx.URL("http://hooks.example/x")
    nets = networks(["192.0.2.0/24", "2001:db8::/32"])
    infos = [_info("192.0.2.7"), _info("2001:db8::7"), _info("192.0.2.7")]
    assert checked_addresses(url, infos, nets) == [
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::7"),
    ]
    # One internal address among public ones refuses the name, whatever the order.
    for bad in ("127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1"):
        with pytest.raises(Refused) as exc:
            checked_addresses(url, [_info("192.0.2.7"), _info(bad)], nets)
        assert exc.value.rule == "allow_list" and "resolves to " in exc.value.msg
        assert bad.removeprefix("::ffff:") in exc.value.msg
    with pytest.raises(Refused, match="resolves to no address"):
        checked_addresses(url, [], nets)


@pytest.mark.parametrize(
    ("url", "address", "target", "host", "sni"),
    [
        (
            "http://hooks.example:8080/x?q=1",
            "192.0.2.7",
            "http://192.0.2.7:8080/x?q=1",
            "hooks.example:8080",
            None,
        ),
        (
            "https://hooks.example/x",
            "2001:db8::1",
            "https://[2001:db8::1]/x",
            "hooks.example",
            "hooks.example",
        ),
        ("https://hooks.example:443/x", "192.0.2.7", "https://192.0.2.7/x", "hooks.example", "hooks.example"),
        (
            "https://bücher.example/x",
            "192.0.2.7",
            "https://192.0.2.7/x",
            "xn--bcher-kva.example",
            "xn--bcher-kva.example",
        ),
        # An address in the URL is connected to as it is.
        ("https://192.0.2.7:8443/x", "192.0.2.7", "https://192.0.2.7:8443/x", None, None),
    ],
)
def test_the_request_connects_to_the_checked_address(url, address, target, host, sni):
    pinned_url, headers, extensions = pinned_request(httpx.URL(url), ipaddress.ip_address(address))
    assert str(pinned_url) == target
    assert headers.get("host") == host
    assert extensions.get("sni_hostname") == sni
    # What httpx would send: the Host header names the host, the connection goes to the address.
    request = httpx.Request("POST", pinned_url, headers=headers, extensions=extensions)
    assert request.url.host == address
    assert request.headers["host"] == (host or httpx.URL(url).netloc.decode())


def test_receivers_are_told_apart_by_scheme_host_and_port():
    assert origin("http://127.0.0.1:8000/a") == origin("http://127.0.0.1:8000/b?x")
    assert origin("http://127.0.0.1:8000/a") != origin("http://127.0.0.1:8001/a")
    assert origin("http://hooks.example/a") != origin("https://hooks.example/a")


def test_signature_round_trip():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ts = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": "v0,zzz " + sign(secret, "msg_1", ts, b"{}"),
    }
    assert verify(secret, headers, b"{}")
    assert not verify(secret, {**headers, "webhook-timestamp": str(ts - 3600)}, b"{}")
    assert not verify("whsec_" + "A" * 32, headers, b"{}")
