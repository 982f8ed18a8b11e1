"""Signed tokens (itsdangerous), one salt per purpose so a token of one kind opens nothing else."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode

RECEIPT_SALT = "cmp.consent-receipt"
RECEIPT_DOCUMENT_SALT = "cmp.receipt-document"
CHECKPOINT_SALT = "cmp.checkpoint"


class _ReceiptSerializer(URLSafeSerializer):
    """URL-safe tokens without the zlib attempt.

    ``URLSafeSerializer`` compresses every payload and keeps the result only when it is
    shorter; a receipt's payload (site key and a random consent id, ~50 bytes) practically
    never is, and trying cost half of signing one on each consent POST. Loading accepts both
    forms, so a receipt made either way opens the same.
    """

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(self.serializer.dumps(obj, separators=(",", ":")).encode())


@lru_cache(maxsize=32)
def _serializer(secret: str, salt: str) -> URLSafeSerializer:
    # Cached: a serializer derives its signing key when built, and receipts are on the hot path.
    if salt == RECEIPT_SALT:
        return _ReceiptSerializer(secret, salt=salt)
    return URLSafeSerializer(secret, salt=salt)


def issue_receipt(secret: str, site_key: str, consent_id: str) -> str:
    """A bearer token proving the holder is the device that made this consent.

    It carries no expiry: a visitor may always see what is kept about them.
    """
    return _serializer(secret, RECEIPT_SALT).dumps([site_key, consent_id])


def receipt_opens(secret: str, token: str, site_key: str, consent_id: str) -> bool:
    """True when ``token`` is a receipt this service issued for exactly this consent."""
    try:
        payload = _serializer(secret, RECEIPT_SALT).loads(token)
    except BadSignature:
        return False
    return payload == [site_key, consent_id]


def sign(secret: str, salt: str, payload: object) -> str:
    """Sign any JSON-able payload under ``salt``."""
    return _serializer(secret, salt).dumps(payload)


def unsign(secret: str, salt: str, token: str) -> object:
    """Verify and decode a token made by :func:`sign`.

    :raises itsdangerous.BadSignature: when it was altered or signed under another salt or key.
    """
    return _serializer(secret, salt).loads(token)
