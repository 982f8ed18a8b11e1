"""Receipts and other signed tokens: each opens exactly what it was made for."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from cmp import tokens

SECRET = "s" * 43
CONSENT = "019aa7c3-5b2e-7f3a-9c1d-4e5f6a7b8c9d"


def test_a_receipt_opens_its_consent_and_nothing_else() -> None:
    receipt = tokens.issue_receipt(SECRET, "shop", CONSENT)
    assert tokens.receipt_opens(SECRET, receipt, "shop", CONSENT)
    assert not tokens.receipt_opens(SECRET, receipt, "other", CONSENT)
    assert not tokens.receipt_opens(SECRET, receipt, "shop", CONSENT[:-1] + "e")
    assert not tokens.receipt_opens("t" * 43, receipt, "shop", CONSENT)
    assert not tokens.receipt_opens(SECRET, receipt[:-2] + "xx", "shop", CONSENT)


@pytest.mark.parametrize("consent_id", [CONSENT, "00000000-0000-7000-8000-000000000000"])
def test_receipts_in_either_payload_form_open(consent_id: str) -> None:
    # itsdangerous's own serializer zlib-compresses a payload when that is shorter (as for an
    # id of zeros); cmp's never tries. Either form must open, and they sign the same payload.
    theirs = URLSafeSerializer(SECRET, salt=tokens.RECEIPT_SALT).dumps(["shop", consent_id])
    ours = tokens.issue_receipt(SECRET, "shop", consent_id)
    assert tokens.receipt_opens(SECRET, theirs, "shop", consent_id)
    assert tokens.receipt_opens(SECRET, ours, "shop", consent_id)
    assert not ours.startswith(".")  # never the compressed form


def test_a_receipt_is_no_checkpoint_signature() -> None:
    receipt = tokens.issue_receipt(SECRET, "shop", CONSENT)
    with pytest.raises(Exception, match="Signature"):
        tokens.unsign(SECRET, tokens.CHECKPOINT_SALT, receipt)
