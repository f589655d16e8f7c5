"""Our Standard Webhooks verifier against the independent ``standardwebhooks`` package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from attribution.conversions import (
    SignatureError,
    check_timestamp,
    parse_headers,
    secret_key_bytes,
    sign,
    verify,
    verify_body_hmac,
)
from hub.security import new_secret

SECRET = new_secret()


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300), msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True))
def test_both_ways_agree(body: str, msg_id: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    theirs = Webhook(SECRET).sign(msg_id, now, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": theirs,
    }
    message = parse_headers(headers)
    verify(secret_key_bytes(SECRET), message, body.encode())
    ours = sign(secret_key_bytes(SECRET), msg_id, int(now.timestamp()), body.encode())
    assert ours == theirs
    Webhook(SECRET).verify(body.encode(), {**headers, "webhook-signature": ours}, json_parse=False)
    with pytest.raises(SignatureError):
        verify(secret_key_bytes(new_secret()), message, body.encode())
    with pytest.raises(SignatureError):
        verify(secret_key_bytes(SECRET), message, body.encode() + b"x")


def test_timestamps_and_malformed_headers() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    base = {"webhook-id": "m1", "webhook-signature": "v1,AAAA"}
    tolerance = timedelta(minutes=5)
    for delta, ok in ((0, True), (-300, True), (300, True), (-301, False), (301, False)):
        message = parse_headers({**base, "webhook-timestamp": str(int(now.timestamp()) + delta)})
        if ok:
            check_timestamp(message, now, tolerance)
        else:
            with pytest.raises(SignatureError):
                check_timestamp(message, now, tolerance)
    for bad in (
        {"webhook-timestamp": "12.5"},
        {"webhook-timestamp": "-1"},
        {"webhook-signature": "v2,AAAA"},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,@@@"},
        {"webhook-id": ""},
    ):
        with pytest.raises(SignatureError):
            parse_headers({**base, "webhook-timestamp": "1", **bad})


def test_body_hmac_and_secret_forms() -> None:
    import base64
    import hashlib
    import hmac

    body = b'{"id": 1}'
    good = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    verify_body_hmac("k", body, good)
    for header in (None, "", "garbage!", good[:-4] + "AAA="):
        with pytest.raises(SignatureError):
            verify_body_hmac("k", body, header)
    key = secret_key_bytes(SECRET)
    assert secret_key_bytes(SECRET.removeprefix("whsec_")) == key and len(key) == 32
    with pytest.raises(ValueError):
        secret_key_bytes("whsec_")
