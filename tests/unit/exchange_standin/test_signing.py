"""The SIGNED-request checks against the examples in Binance's own documentation."""

from __future__ import annotations

import pytest

from execution.standin import api_errors
from execution.standin.signing import check_signed_request, sign

# "SIGNED Endpoint Examples for POST /api/v3/order" in Binance's spot REST docs.
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
TIMESTAMP_MS = 1_499_827_319_559


def params_of(*raw: str) -> dict[str, str]:
    return dict(part.split("=", 1) for chunk in raw for part in chunk.split("&") if part)


def check(raw_query: str, raw_body: str, *, server_ms: int = TIMESTAMP_MS, api_key: str | None = KEY) -> None:
    check_signed_request(api_key=api_key, params=params_of(raw_query, raw_body), raw_query=raw_query,
                         raw_body=raw_body, known_keys={KEY: SECRET}, server_ms=server_ms)


def test_signature_matches_binance_example_1():
    assert sign(f"{QUERY}&{BODY}", SECRET) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_query_and_body_are_joined_without_an_ampersand_as_in_binance_example_3():
    signature = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"

    check(QUERY, f"{BODY}&signature={signature}")           # does not raise

    with pytest.raises(api_errors.BinanceApiError) as caught:
        check(QUERY, f"{BODY}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    assert caught.value.code == -1022


@pytest.mark.parametrize(("server_ms", "api_key", "code"), [
    (TIMESTAMP_MS + 5_001, KEY, -1021),          # older than recvWindow=5000
    (TIMESTAMP_MS - 1_000, KEY, -1021),          # 1000 ms ahead of the server
    (TIMESTAMP_MS, "other-key", -2015),
    (TIMESTAMP_MS, None, -2014),
])
def test_refusals(server_ms, api_key, code):
    signed_body = f"{BODY}&signature={sign(QUERY + BODY, SECRET)}"

    with pytest.raises(api_errors.BinanceApiError) as caught:
        check(QUERY, signed_body, server_ms=server_ms, api_key=api_key)

    assert caught.value.code == code


def test_the_signature_is_not_case_sensitive():
    check(QUERY, f"{BODY}&signature={sign(QUERY + BODY, SECRET).upper()}")          # does not raise
