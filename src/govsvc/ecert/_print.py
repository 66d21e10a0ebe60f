"""Printable certificates: an HTML print view and a modest PDF, both with the QR code.

The HTML view (Jinja2, autoescaped) is A4 with a print stylesheet and the QR code inline
as SVG. The PDF (fpdf2) needs a CJK font: it uses ``font_path``, else ``$GOVSVC_CJK_FONT``,
else a font of a known Debian package — ``fonts-wqy-microhei`` (文泉驿微米黑) or
``fonts-noto-cjk`` — else what ``fc-match :lang=zh`` finds; without one it raises
:class:`~govsvc.errors.FontMissing` saying what to install. A watermark (水印) marks shared
copies with their purpose and expiry, as a trust-level-A material carries them.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2

from govsvc.errors import FontMissing
from govsvc.identity import DocumentType

from ._certificate import CHINA, Certificate
from ._qr import render_png, render_svg
from ._types import CertificateType, FieldKind

__all__ = ["find_cjk_font", "render_html", "render_pdf", "shared_copy_watermark"]

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu: fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("govsvc.ecert", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def _chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _display(value: Any) -> str:
    if isinstance(value, dt.date):
        return _chinese_date(value)
    return str(value)


def _fields(certificate: Certificate, ctype: CertificateType | None) -> list[tuple[str, str]]:
    if ctype is None:
        return [(key, _display(v)) for key, v in certificate.face.items()]
    rows = []
    for f in ctype.fields:
        if f.key not in certificate.face:
            continue
        value = certificate.face[f.key]
        if f.kind is FieldKind.DATE and isinstance(value, str):
            value = dt.date.fromisoformat(value)  # stored as YYYY-MM-DD, printed 年月日
        rows.append((f.label, _display(value)))
    return rows


def _validity(certificate: Certificate) -> str:
    start = _chinese_date(certificate.valid_from)
    if certificate.valid_until is None:
        return f"{start}至长期"
    return f"{start}至{_chinese_date(certificate.valid_until)}"


def _holder_code_label(certificate: Certificate) -> str:
    doc_type = certificate.holder.doc_type
    if doc_type is DocumentType.CREDIT_CODE:
        return "统一社会信用代码"
    return doc_type.label + "号码"


def shared_copy_watermark(purpose: str, expires: dt.datetime) -> str:
    """The watermark of a shared copy, e.g. ``仅供办理食品经营许可使用 2026年04月01日前有效``."""
    return f"仅供{purpose}使用 {_chinese_date(expires.astimezone(CHINA).date())}前有效"


def render_html(
    certificate: Certificate,
    ctype: CertificateType | None,
    *,
    qr_payload: str,
    watermark: str | None = None,
) -> str:
    """The certificate's HTML print view (A4, Chinese layout, QR inline as SVG)."""
    if watermark is None and certificate.status.value != "valid":
        watermark = certificate.status.label
    return (
        _environment()
        .get_template("certificate.html")
        .render(
            c=certificate,
            fields=_fields(certificate, ctype),
            holder_code_label=_holder_code_label(certificate),
            validity=_validity(certificate),
            issued_on=_chinese_date(certificate.issued_on),
            qr_svg=render_svg(qr_payload, scale=3, border=2),
            watermark=watermark,
        )
    )


def find_cjk_font() -> Path:
    """A CJK font file for PDFs; :class:`~govsvc.errors.FontMissing` says what to install."""
    configured = os.environ.get("GOVSVC_CJK_FONT")
    if configured:
        path = Path(configured)
        if path.is_file():
            return path
        raise FontMissing(f"GOVSVC_CJK_FONT names {configured}, which is not a font file")
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(
            [fc_match, "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found and Path(found).is_file() and "dejavu" not in found.lower():
            return Path(found)
    raise FontMissing(
        "no CJK font found for the PDF: install one (Debian/Ubuntu: apt-get install "
        "fonts-wqy-microhei, or fonts-noto-cjk), set GOVSVC_CJK_FONT to a .ttf/.ttc/.otf file, "
        "or pass font_path=; the HTML print view needs no font on the server"
    )


def render_pdf(
    certificate: Certificate,
    ctype: CertificateType | None,
    *,
    qr_payload: str,
    watermark: str | None = None,
    font_path: str | Path | None = None,
) -> bytes:
    """The certificate as a one-page A4 PDF with the QR code (needs a CJK font)."""
    font = Path(font_path) if font_path is not None else find_cjk_font()
    if not font.is_file():
        raise FontMissing(f"font file {font} does not exist; give a .ttf/.ttc/.otf CJK font")
    if watermark is None and certificate.status.value != "valid":
        watermark = certificate.status.label
    from fpdf import FPDF  # imported here: it takes ~0.4 s and most processes never print

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(f"{certificate.name} {certificate.number}")
    pdf.set_creator("govsvc")
    try:
        pdf.add_font("cjk", "", str(font))
    except Exception as exc:  # fontTools raises many kinds for a file that is no font
        raise FontMissing(f"cannot use {font} as the PDF font: {exc}") from None
    pdf.add_page()
    pdf.set_draw_color(138, 109, 59)
    pdf.set_line_width(0.8)
    pdf.rect(12, 12, 186, 273)
    pdf.set_font("cjk", size=24)
    pdf.set_xy(12, 24)
    pdf.cell(186, 12, certificate.name, align="C")
    pdf.set_font("cjk", size=9)
    pdf.set_xy(12, 37)
    pdf.cell(186, 6, f"电子证照 · {certificate.type_name}（{certificate.type_code}）", align="C")
    pdf.set_font("cjk", size=11)
    pdf.set_xy(20, 47)
    pdf.cell(170, 7, f"编号：{certificate.number}", align="R")
    y = 57.0
    rows = [
        *_fields(certificate, ctype),
        ("持证主体", certificate.holder_name),
        (_holder_code_label(certificate), certificate.holder.number),
        ("有效期", _validity(certificate)),
        ("颁发日期", _chinese_date(certificate.issued_on)),
        ("证照状态", certificate.status.label),
        ("发证机关", certificate.issuer.name),
    ]
    for label, value in rows:
        # Long captions (统一社会信用代码（身份证号码）) wrap in their column, never overlap.
        pdf.set_font("cjk", size=11)
        pdf.set_xy(22, y)
        pdf.multi_cell(56, 7, label)
        label_end = pdf.get_y()
        pdf.set_xy(80, y)
        pdf.multi_cell(108, 7, value)
        y = max(pdf.get_y(), label_end, y + 7) + 1.5
        if y > 215:
            break  # keep to one page: the QR code and the identifier must fit below
    pdf.image(io.BytesIO(render_png(qr_payload, scale=6, border=2)), x=22, y=222, w=40, h=40)
    pdf.set_font("cjk", size=9)
    pdf.set_xy(22, 263)
    pdf.cell(40, 5, "扫码核验真伪", align="C")
    pdf.set_xy(70, 236)
    pdf.multi_cell(
        118, 6, f"发证机关：{certificate.issuer.name}\n本证照以电子签名签发，以扫码核验结果为准"
    )
    pdf.set_font("cjk", size=7)
    pdf.set_xy(20, 272)
    pdf.cell(170, 5, f"证照标识：{certificate.id}")
    if watermark:
        pdf.set_text_color(214, 150, 146)
        pdf.set_font("cjk", size=26)
        with pdf.rotation(28, x=105, y=150):
            pdf.set_xy(20, 140)
            pdf.cell(170, 16, watermark, align="C")
        pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())
