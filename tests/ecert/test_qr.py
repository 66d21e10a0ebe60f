"""QR payloads: Base45, online and offline forms, rendered and decoded back from pixels."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from govsvc.ecert import (
    OFFLINE_PREFIX,
    Certificate,
    KeyRing,
    OfflinePayload,
    OnlinePayload,
    base45_decode,
    base45_encode,
    offline_payload,
    online_payload,
    parse_payload,
    qr_code,
    render_png,
    render_svg,
    verify,
)
from govsvc.errors import InvalidInput

from .conftest import URLS, StatusService
from .test_verify import NOW


def decode_pixels(png: bytes) -> str:
    image = Image.open(io.BytesIO(png)).convert("L")
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, "exactly one QR code in the picture"
    return found[0].text


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")],
)
def test_base45_matches_rfc_9285(data: bytes, text: str) -> None:
    assert base45_encode(data) == text
    assert base45_decode(text) == data


@given(st.binary(max_size=500))
def test_base45_round_trips(data: bytes) -> None:
    assert base45_decode(base45_encode(data)) == data


@pytest.mark.parametrize("text", ["GGW", "A", "ab", "ZZZ"])
def test_base45_refuses_what_is_not_base45(text: str) -> None:
    with pytest.raises(ValueError):
        base45_decode(text)


def test_online_payload_is_short_alphanumeric_and_small(licence: Certificate) -> None:
    payload = online_payload(licence.id, URLS)
    assert payload == f"HTTPS://ZWFW.HARBIN.GOV.CN/ECERT/V/{licence.id}"
    qr = qr_code(payload)
    assert qr.mode == "alphanumeric" and qr.error == "M" and int(qr.version) <= 6
    parsed = parse_payload(payload)
    assert isinstance(parsed, OnlinePayload) and parsed.certificate_id == licence.id
    assert parse_payload(URLS.verification(licence.id)) == OnlinePayload(licence.id, URLS.verification(licence.id))


def test_offline_payload_rebuilds_the_exact_jws(licence_jws: str) -> None:
    payload = offline_payload(licence_jws)
    assert payload.startswith(OFFLINE_PREFIX)
    assert parse_payload(payload) == OfflinePayload(licence_jws)
    qr = qr_code(payload)
    assert qr.mode == "alphanumeric" and qr.error == "M"
    assert int(qr.version) <= 30, f"offline QR is version {qr.version}"
    assert len(payload) < len(licence_jws)


def test_parse_refuses_other_payloads(licence_jws: str) -> None:
    for text in ("https://example.com/", "WIFI:S:x;;", OFFLINE_PREFIX + "0"):
        with pytest.raises(InvalidInput):
            parse_payload(text)
    damaged = offline_payload(licence_jws)[:-6]
    with pytest.raises(InvalidInput, match="damaged"):
        parse_payload(damaged)


@pytest.mark.parametrize("kind", ["online", "offline"])
def test_rendered_qr_decodes_from_pixels_and_verifies(
    kind: str, licence: Certificate, licence_jws: str, ring: KeyRing, status: StatusService
) -> None:
    payload = online_payload(licence.id, URLS) if kind == "online" else offline_payload(licence_jws)
    png = render_png(payload, scale=4)
    assert png.startswith(b"\x89PNG")
    scanned = decode_pixels(png)
    assert scanned == payload
    result = verify(scanned, keys=ring, status=status, now=NOW, documents={licence.id: licence_jws}.get)
    assert result.valid, result.summary
    assert result.certificate_id == str(licence.id)


def test_a_qr_from_another_system_decodes_but_does_not_verify(ring: KeyRing, status: StatusService) -> None:
    scanned = decode_pixels(render_png("https://mp.weixin.qq.com/s/abcdef"))
    result = verify(scanned, keys=ring, status=status, now=NOW)
    assert not result.valid and result.reason.reason.value == "not_recognised"


def test_svg_for_the_print_view(licence: Certificate) -> None:
    svg = render_svg(online_payload(licence.id, URLS))
    assert svg.startswith("<svg") and "电子证照核验二维码" in svg
