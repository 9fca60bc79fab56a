"""Decode page and feed bytes: GBK/GB2312 and EUC-KR/CP949 included, lying declarations too.

A page that validates as UTF-8 is UTF-8, whatever its meta tag says (Naver pages have said
euc-kr over UTF-8 bytes); otherwise trust BOM, HTTP header, then the in-document declaration,
then the source language's legacy encoding. Aliases widen to supersets (gb2312 → gb18030,
euc-kr → cp949) because real pages use characters beyond the narrow standards.
"""

from __future__ import annotations

import codecs
import re

from w3lib.encoding import resolve_encoding

_DECLARED = re.compile(
    rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9_.:-]+)["']"""
    rb"""|<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_XML_DECL_ENCODING = re.compile(r"""(<\?xml[^>]*?encoding=)["'][^"']*["']""", re.IGNORECASE)
_LANGUAGE_LEGACY = {"zh": ["gb18030", "big5"], "ko": ["cp949"]}
_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def declared_encoding(body: bytes) -> str | None:
    m = _DECLARED.search(body[:4096])
    if not m:
        return None
    return (m.group(1) or m.group(2)).decode("ascii")


def _resolve(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return resolve_encoding(name) or codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in a header's charset
        return None


def decode(body: bytes, header_charset: str | None = None, language: str | None = None) -> str:
    """Best strict decoding of `body`; undecodable bytes are replaced only as a last resort."""
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return body.decode(enc, errors="replace")
    candidates = ["utf-8", _resolve(header_charset), _resolve(declared_encoding(body))]
    candidates += _LANGUAGE_LEGACY.get(language or "", [])
    for enc in dict.fromkeys(c for c in candidates if c):
        try:
            return body.decode(enc)
        except (UnicodeError, LookupError):  # UnicodeError: codecs such as "undefined"
            continue
    return body.decode("utf-8", errors="replace")


def as_utf8_xml(text: str) -> bytes:
    """Re-encode decoded XML as UTF-8 and say so in its prolog (feedparser re-reads it)."""
    return _XML_DECL_ENCODING.sub(r'\1"utf-8"', text, count=1).encode("utf-8")
