"""IP pseudonymisation: truncation and keyed hashing. Nothing else in cmp touches raw addresses."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

IPV4_PREFIX = 24
IPV6_PREFIX = 48


@dataclass(frozen=True)
class PseudonymousClient:
    """What cmp keeps of a client address: its network prefix and a keyed hash of that prefix."""

    ip_truncated: str
    ip_hash: str
    key_id: str


def truncate_ip(address: str) -> str:
    """Cut an address to its network: IPv4 to /24, IPv6 to /48 (IPv4-mapped IPv6 as IPv4).

    :raises ValueError: when ``address`` is not an IP address.
    """
    address = address.strip()
    octets = address.split(".")
    # Fast path for the common dotted IPv4 form; everything else goes through ipaddress.
    if len(octets) == 4 and all(o.isdigit() and len(o) <= 3 and int(o) <= 255 and
                                (o == "0" or not o.startswith("0")) for o in octets):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def hash_ip(truncated: str, key: bytes) -> str:
    """HMAC-SHA-256 of a truncated address under a key kept outside the database."""
    return hmac.new(key, truncated.encode(), hashlib.sha256).hexdigest()


def pseudonymise(address: str, key: bytes, key_id: str) -> PseudonymousClient:
    """Truncate and hash ``address``; unparseable input maps to a fixed 'unknown' client."""
    try:
        truncated = truncate_ip(address)
    except ValueError:
        truncated = "unknown"
    return PseudonymousClient(truncated, hash_ip(truncated, key), key_id)


def client_address(remote_addr: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The address of the client as far as we can trust it.

    With ``trusted_proxies`` = n, the n-th address from the right of ``X-Forwarded-For`` is the
    client (each trusted proxy appended the address it saw); without trusted proxies, the header
    is ignored because any client can write it.
    """
    if trusted_proxies > 0 and forwarded_for:
        hops: Sequence[str] = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return remote_addr or ""
