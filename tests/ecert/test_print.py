"""The HTML print view and the PDF of a certificate."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from pathlib import Path

import attrs
import pytest

from govsvc.ecert import (
    Certificate,
    CertificateStatus,
    CertificateType,
    _print,
    find_cjk_font,
    online_payload,
    render_html,
    render_pdf,
    shared_copy_watermark,
)
from govsvc.errors import FontMissing

from .conftest import URLS

CJK_FONT = next((Path(p) for p in _print.FONT_CANDIDATES if Path(p).is_file()), None)
needs_font = pytest.mark.skipif(
    CJK_FONT is None, reason="no CJK font here: apt-get install fonts-wqy-microhei (or fonts-noto-cjk)"
)


def test_html_print_view(licence: Certificate, food_type: CertificateType) -> None:
    html = render_html(licence, food_type, qr_payload=online_payload(licence.id, URLS))
    assert html.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in html
    assert "@page { size: A4 portrait" in html and "@media print" in html
    assert "<th>经营场所</th><td>黑龙江省哈尔滨市南岗区红军街15号</td>" in html
    assert "<th>有效期</th><td>2026年03月02日至2031年03月01日</td>" in html
    assert "<th>统一社会信用代码</th><td>91230103MA1BX4K238</td>" in html
    assert "编号：JY22301030012345" in html and str(licence.id) in html
    assert "<svg" in html and "扫码核验真伪" in html
    assert 'class="watermark"' not in html


def test_html_escapes_face_text(licence: Certificate, food_type: CertificateType) -> None:
    evil = attrs.evolve(licence, face={**licence.face, "premises": "<script>alert(1)</script>"})
    html = render_html(evil, food_type, qr_payload="X")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_html_watermarks(licence: Certificate, food_type: CertificateType) -> None:
    mark = shared_copy_watermark("办理食品经营许可（新办）", dt.datetime(2026, 4, 1, 15, 0, tzinfo=dt.UTC))
    assert mark == "仅供办理食品经营许可（新办）使用 2026年04月01日前有效"
    html = render_html(licence, food_type, qr_payload="X", watermark=mark)
    assert f'<div class="watermark"><span>{mark}</span></div>' in html
    revoked = attrs.evolve(licence, status=CertificateStatus.REVOKED)
    assert '<span>已吊销</span>' in render_html(revoked, None, qr_payload="X")


def pdf_text_streams(pdf: bytes) -> bytes:
    """The page content, inflated (fpdf2 compresses streams)."""
    out = b""
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out += zlib.decompress(match.group(1))
        except zlib.error:
            continue
    return out


@needs_font
def test_pdf_is_one_a4_page_with_the_qr_code(licence: Certificate, food_type: CertificateType) -> None:
    pdf = render_pdf(licence, food_type, qr_payload=online_payload(licence.id, URLS), font_path=CJK_FONT)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + pdf.count(b"/Type /Page>") >= 1
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf
    assert b"/Subtype /Image" in pdf  # the QR code
    assert b"FontFile2" in pdf  # the CJK font, subset and embedded
    assert len(pdf) < 300_000  # modest
    assert b"BT" in pdf_text_streams(pdf)


@needs_font
def test_pdf_finds_the_installed_font(licence: Certificate, food_type: CertificateType,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVSVC_CJK_FONT", raising=False)
    assert find_cjk_font() == CJK_FONT
    pdf = render_pdf(licence, food_type, qr_payload="X", watermark="仅供测试使用")
    assert pdf.startswith(b"%PDF-")


def test_missing_font_is_a_clear_error(licence: Certificate, food_type: CertificateType,
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="does not exist"):
        render_pdf(licence, food_type, qr_payload="X", font_path=tmp_path / "none.ttc")
    monkeypatch.setenv("GOVSVC_CJK_FONT", str(tmp_path / "none.ttc"))
    with pytest.raises(FontMissing, match="GOVSVC_CJK_FONT names"):
        find_cjk_font()
    monkeypatch.delenv("GOVSVC_CJK_FONT")
    monkeypatch.setattr(_print, "FONT_CANDIDATES", ())
    monkeypatch.setattr(_print.shutil, "which", lambda name: None)
    with pytest.raises(FontMissing, match="apt-get install fonts-wqy-microhei"):
        find_cjk_font()
    not_a_font = tmp_path / "fake.ttf"
    not_a_font.write_bytes(b"this is not a font")
    with pytest.raises(FontMissing, match="cannot use"):
        render_pdf(licence, food_type, qr_payload="X", font_path=not_a_font)


def test_dates_print_in_chinese(birth_type: CertificateType) -> None:
    from govsvc.ecert import Certificate as Cert

    from .conftest import APPROVER, BIRTH_FACE, HEALTH, ISSUED_AT, SUN_YUE

    birth = Cert.issue(
        birth_type, serial="Q230123456", issuer=HEALTH, number="Q230123456", holder_name="孙悦",
        holder=SUN_YUE, division="230103", face=BIRTH_FACE, at=ISSUED_AT, actor=APPROVER,
        status_index=5,
    ).certificate
    html = render_html(birth, birth_type, qr_payload="X")
    assert "<th>出生日期</th><td>2024年01月05日</td>" in html
    assert "<th>有效期</th><td>2026年03月02日至长期</td>" in html
    assert "<th>公民身份号码</th>" not in html and "居民身份证号码" in html
