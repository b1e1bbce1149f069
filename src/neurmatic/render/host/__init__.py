"""Host hardening files rendered for production hosts (firewall, fail2ban, kernel and limits)."""

from __future__ import annotations

import ipaddress

from neurmatic.errors import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_setting(text: str, *, what: str, example: str, everything: str) -> Network:
    """``text`` as a network (an address is a /32 or /128), or a ConfigurationError naming ``what`` that
    says how to write it; host bits set get the network meant, and ``/0`` is refused (``everything`` says
    why for this setting)."""
    try:
        network = ipaddress.ip_network(text.strip())
    except ValueError as exc:
        try:
            meant = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{what} {text!r} is not an address or a CIDR ({exc})", hint=f"write e.g. {example}"
            ) from exc
        raise ConfigurationError(f"{what} {text!r} has host bits set", hint=f"did you mean {meant}?") from exc
    if network.prefixlen == 0:
        raise ConfigurationError(f"{what} {text!r} is every address", hint=everything)
    return network
