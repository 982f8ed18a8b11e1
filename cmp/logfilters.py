"""A logging filter that removes IP addresses from log lines the web servers write themselves.

cmp's own code never logs an address, but gunicorn and werkzeug do (``Invalid request from
ip=…``, request lines prefixed with the peer): this filter rewrites their messages.
"""

from __future__ import annotations

import ipaddress
import logging
import re

# Runs of hex digits, dots and colons that contain a dot or colon: every IP literal is one.
_CANDIDATE = re.compile(r"[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*")
REDACTED = "[address]"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _redact_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if _is_ip(token):
        return REDACTED
    core = token.rstrip(".:")  # "ip=203.0.113.7: bad request" leaves a colon on the token
    tail = token[len(core):]
    if _is_ip(core):
        return REDACTED + tail
    host, sep, port = core.rpartition(":")  # 203.0.113.7:51234
    if sep and port.isdigit() and _is_ip(host):
        return REDACTED + sep + port + tail
    return token


def redact_addresses(text: str) -> str:
    """``text`` with every IPv4 and IPv6 address replaced by ``[address]``."""
    return _CANDIDATE.sub(_redact_token, text)


class RedactAddresses(logging.Filter):
    """Rewrite each record's message without IP addresses (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_addresses(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install(*logger_names: str) -> None:
    """Attach the filter to the named loggers (once each)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactAddresses) for f in logger.filters):
            logger.addFilter(RedactAddresses())
