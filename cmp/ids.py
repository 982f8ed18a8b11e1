"""Consent ids: UUID version 7 (RFC 9562), time-ordered so that new ids sort after old ones.

A random (version 4) id sends every new consent, and every event of it, to a random page of the
consents primary key and of the log's ``consent_id`` index. Once those indexes outgrow memory,
each insert is a page read and a page write: inserting 500,000 expired events into a
1,000,000-row log took 18.4 s with random ids and 3.7 s with ordered ones (SQLite, this
machine). Version 7 ids start with the Unix time in milliseconds, so new ids land at the end of
the index, and the expiry job, which walks consents in ``expires_at`` order, meets them in id
order too. The other 74 bits are random: the id stays unguessable.

Python gains ``uuid.uuid7()`` in 3.14; the ``uuid6`` package has one too, but both read the
wall clock, and ids are minted from cmp's clock (tests and imports give consents a past time).
"""

from __future__ import annotations

import secrets
from datetime import datetime

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RANDOM_A = ((1 << 12) - 1) << 64  # 12 random bits after the version
_RANDOM_B = (1 << 62) - 1  # 62 random bits after the variant
_MILLISECONDS = (1 << 48) - 1


def time_ordered_id(at: datetime) -> str:
    """A new UUIDv7 for the time ``at`` (aware), in the canonical 8-4-4-4-12 form."""
    millis = int(at.timestamp() * 1000) & _MILLISECONDS
    random = secrets.randbits(74)
    value = (millis << 80 | _VERSION_7 | (random << 2 & _RANDOM_A)  # top 12 random bits
             | _VARIANT_RFC | (random & _RANDOM_B))
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
