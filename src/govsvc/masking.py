"""Masking personal data where it is not needed (个人信息去标识化展示).

Lists, trails and logs show who a case belongs to without showing the whole number: the hall's
screens and a supervisor's lists need to tell cases apart, not to read ID numbers. The forms
follow what Chinese government portals print::

    mask_id_number("230103198503120316")  -> "2301**********0316"
    mask_phone("13812345678")             -> "138****5678"
    mask_name("张伟")                      -> "张*"
    mask_name("欧阳娜娜")                  -> "欧***"

Masking is for display; it is not anonymisation (a masked ID plus a name can still identify a
person), so masked values are still personal data in logs.
"""

from __future__ import annotations

__all__ = ["mask_id_number", "mask_name", "mask_phone"]


def mask_id_number(number: str) -> str:
    """Keep the first 4 and last 4 characters of a document number, star the rest.

    Numbers of 8 characters or fewer are starred whole (keeping 8 of them would show it all).
    """
    text = "".join(str(number).split())
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_phone(phone: str) -> str:
    """A mobile number as ``138****5678``; other numbers keep their last 4 digits only."""
    text = "".join(str(phone).split())
    digits = text.removeprefix("+86").removeprefix("0086")
    if len(digits) == 11 and digits.isdigit():
        return digits[:3] + "****" + digits[-4:]
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def mask_name(name: str) -> str:
    """A name with only its first character shown: ``张*``, ``欧***``; ASCII names ``J***``."""
    text = str(name).strip()
    if not text:
        return ""
    if len(text) == 1:
        return "*"
    return text[0] + "*" * (len(text) - 1)
