"""Bitstring status lists: allocation, bits, encoding, and the signed list credential."""

from __future__ import annotations

import base64
import gzip
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govsvc.ecert import (
    MIN_LIST_SIZE,
    StatusList,
    StatusListFull,
    StatusPurpose,
    allocate_index,
    status_list_credential,
)
from govsvc.errors import InvalidInput

from .conftest import ISSUED_AT, SAMR, URLS


def test_lists_have_at_least_131072_entries() -> None:
    assert MIN_LIST_SIZE == 131_072
    empty = StatusList.empty(StatusPurpose.REVOCATION)
    assert empty.size == MIN_LIST_SIZE and len(empty.bits) == 16 * 1024
    with pytest.raises(InvalidInput, match="at least 131072"):
        StatusList.empty(StatusPurpose.REVOCATION, size=1024)
    with pytest.raises(InvalidInput, match="multiple of 8"):
        StatusList.empty(StatusPurpose.REVOCATION, size=MIN_LIST_SIZE + 3)


def test_bit_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    empty = StatusList.empty(StatusPurpose.REVOCATION)
    assert empty.set(0).bits[0] == 0b1000_0000
    assert empty.set(7).bits[0] == 0b0000_0001
    assert empty.set(9).bits[1] == 0b0100_0000


def test_set_clear_and_read() -> None:
    empty = StatusList.empty(StatusPurpose.SUSPENSION)
    one = empty.set(131_071)
    assert one.get(131_071) and not empty.get(131_071)  # a value: setting makes a new list
    assert not one.clear(131_071).get(131_071)
    many = empty.set_many({5: True, 6: True, 5_000: True})
    assert [i for i in (4, 5, 6, 7, 5_000) if many.get(i)] == [5, 6, 5_000]
    with pytest.raises(InvalidInput, match="outside this list"):
        empty.get(MIN_LIST_SIZE)
    with pytest.raises(InvalidInput, match="outside this list"):
        empty.set(-1)


@given(st.sets(st.integers(0, MIN_LIST_SIZE - 1), max_size=50))
def test_encoding_round_trips(indexes: set[int]) -> None:
    status_list = StatusList.empty(StatusPurpose.REVOCATION).set_many(dict.fromkeys(indexes, True))
    encoded = status_list.encode()
    assert encoded.startswith("u") and "=" not in encoded
    decoded = StatusList.decode(encoded, StatusPurpose.REVOCATION)
    assert decoded == status_list
    assert {i for i in indexes if decoded.get(i)} == indexes


def test_encoding_is_gzip_and_multibase_base64url_as_the_spec_says() -> None:
    status_list = StatusList.empty(StatusPurpose.REVOCATION).set(42)
    encoded = status_list.encode()
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert raw[:2] == b"\x1f\x8b"  # GZIP magic
    assert gzip.decompress(raw) == status_list.bits
    assert encoded == status_list.encode()  # deterministic (mtime 0)
    # Decoding what another implementation wrote (default gzip header with a timestamp).
    foreign = "u" + base64.urlsafe_b64encode(gzip.compress(status_list.bits)).rstrip(b"=").decode()
    assert StatusList.decode(foreign, StatusPurpose.REVOCATION).get(42)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("H4sI", "starting with 'u'"),
        ("u!!!", "not base64url"),
        ("u" + base64.urlsafe_b64encode(b"not gzip").rstrip(b"=").decode(), "not GZIP"),
        ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).rstrip(b"=").decode(), "at least"),
        ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(MIN_LIST_SIZE // 8))[:-10]).rstrip(b"=").decode(), "truncated"),
        ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(32 * 1024 * 1024))).rstrip(b"=").decode(), "refused"),
    ],
)
def test_decoding_errors(encoded: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        StatusList.decode(encoded, StatusPurpose.REVOCATION)


def test_allocator_never_hands_out_a_used_index() -> None:
    rng = random.SystemRandom()
    used: set[int] = set()
    for _ in range(2_000):
        index = allocate_index(used, rng=rng)
        assert 0 <= index < MIN_LIST_SIZE and index not in used
        used.add(index)


def test_allocator_fills_a_list_completely_then_refuses() -> None:
    size = MIN_LIST_SIZE
    used = set(range(size)) - {17, 99_999, size - 1}
    handed = set()
    for _ in range(3):
        index = allocate_index(used, size=size)
        assert index not in used
        used.add(index)
        handed.add(index)
    assert handed == {17, 99_999, size - 1}
    with pytest.raises(StatusListFull, match="open the department's next list"):
        allocate_index(used, size=size)


def test_allocated_indexes_are_spread_over_the_list() -> None:
    used: set[int] = set()
    for _ in range(200):
        used.add(allocate_index(used))
    # Random, not sequential: neighbouring certificates do not get neighbouring indexes.
    assert max(used) - min(used) > MIN_LIST_SIZE // 2
    assert sorted(used) != list(range(min(used), min(used) + 200))


def test_status_list_credential_shape() -> None:
    status_list = StatusList.empty(StatusPurpose.SUSPENSION).set(3)
    url = URLS.status_list(SAMR.credit_code, 0, StatusPurpose.SUSPENSION)
    doc = status_list_credential(
        status_list, url=url, issuer_id=URLS.issuer(SAMR.credit_code), issuer_name=SAMR.name,
        valid_from=ISSUED_AT,
    )
    assert doc["id"] == "https://zwfw.harbin.gov.cn/ecert/status/11230100013114525L/0/suspension"
    assert doc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert doc["validFrom"] == "2026-03-02T01:00:00Z"
    subject = doc["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "suspension"
    assert StatusList.decode(subject["encodedList"], StatusPurpose.SUSPENSION).get(3)
