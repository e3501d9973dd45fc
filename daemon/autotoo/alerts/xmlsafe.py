"""Hardened XML reading for VOEvents: size limit, no DTD at all, ASCII-compatible encodings.

Every XML attack that matters here (billion laughs, quadratic blow-up, external entities,
parameter entities) needs a document type declaration: without ``<!DOCTYPE`` there are no
entity declarations, so expat can expand only the five predefined entities and character
references, and fetches nothing. A VOEvent never has a DTD. So instead of hooking expat's
declaration handlers as defusedxml does — which forces ElementTree's pure-Python parser, 3.5x
slower on a 6 kB Fermi VOEvent (measured 400 us against 116 us) — the raw bytes are checked
before parsing and refused if they contain any markup declaration (``<!`` other than a comment
or CDATA section), and only then handed to the C parser.

The byte check is only sound if ``<!`` looks like ``<!`` in the bytes, i.e. the encoding is
ASCII-compatible: UTF-16/32 (NUL bytes, byte-order marks) and any declared encoding other than
UTF-8, US-ASCII or ISO-8859-1 (e.g. an EBCDIC code page behind an ASCII declaration) are refused.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError, XMLParser

from autotoo.alerts.errors import AlertParseError
from autotoo.alerts.values import MAX_XML_BYTES

_DECLARATION = re.compile(rb"<!(?!--|\[CDATA\[)")
_ENCODING = re.compile(rb"\A\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_ASCII_COMPATIBLE = frozenset(
    {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin-1", b"latin1"}
)
_WIDE_BOMS = (b"\xfe\xff", b"\xff\xfe")


def read_xml(raw: bytes) -> Element:
    """The root element of a small, DTD-free, ASCII-compatible XML document."""
    if len(raw) > MAX_XML_BYTES:
        raise AlertParseError(f"VOEvent of {len(raw)} bytes exceeds {MAX_XML_BYTES}")
    if b"\x00" in raw or raw.startswith(_WIDE_BOMS):
        raise AlertParseError("XML refused by the hardened parser: not ASCII-compatible")
    declared = _ENCODING.match(raw)
    if declared is not None and declared.group(1).strip().lower() not in _ASCII_COMPATIBLE:
        encoding = declared.group(1)[:20].decode("ascii", "replace")
        raise AlertParseError(f"XML refused by the hardened parser: encoding {encoding!r}")
    if _DECLARATION.search(raw):
        raise AlertParseError("XML refused by the hardened parser: DTD or markup declaration")
    parser = XMLParser()  # noqa: S314 - C parser; the checks above let no DTD (entities) in
    try:
        parser.feed(raw)
        root: Element = parser.close()
    except ParseError as exc:
        raise AlertParseError(f"XML is not well formed: {exc}") from None
    except (ValueError, LookupError) as exc:
        raise AlertParseError(f"XML cannot be read: {exc}") from None
    return root
