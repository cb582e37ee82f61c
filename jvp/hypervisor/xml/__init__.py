"""lxml helpers for libvirt XML: parse safely, read typed values, edit elements in place.

Documents are always edited where they stand (read libvirt's XML, change the elements meant to change, hand
the whole document back), never regenerated from a partial model, so nothing JVP does not model is lost.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False)


# For documents that are only read and then dropped (a listing's per-domain facts): the whitespace between
# elements and libxml2's xml:id index are not kept (about a quarter of the parse). Never for a document that
# is edited and given back (libvirt would get it without its indentation).
_READ_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, collect_ids=False,
                               huge_tree=False)


def parse(xml: str | bytes) -> etree._Element:
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    return etree.fromstring(xml, _PARSER)


def parse_to_read(xml: str | bytes) -> etree._Element:
    """parse() for a document only read (see _READ_PARSER)."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    return etree.fromstring(xml, _READ_PARSER)


def to_string(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode", pretty_print=True)


def text(el: etree._Element, xpath: str, default: Any = None) -> Any:
    found = el.xpath(xpath)
    if not found:
        return default
    first = found[0]
    value = first if isinstance(first, str) else first.text
    return default if value is None else str(value).strip()


def integer(el: etree._Element, xpath: str, default: int | None = None) -> int | None:
    value = text(el, xpath)
    if value in (None, ""):
        return default
    try:
        return int(value, 0) if value.startswith("0x") else int(value)
    except ValueError:
        return default


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
          "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4,
          "tb": 1000**4}


def size_bytes(el: etree._Element | None, default_unit: str = "KiB") -> int | None:
    """A libvirt size element (`<memory unit='KiB'>1024</memory>`) in bytes."""
    if el is None or el.text is None:
        return None
    unit = (el.get("unit") or default_unit).lower()
    return int(el.text.strip()) * _UNITS.get(unit, 1)


def sub(parent: etree._Element, tag: str, attrib: dict[str, str] | None = None,
        text_: str | None = None) -> etree._Element:
    """Append a child element (attribute values are strings; None values are left out)."""
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text_ is not None:
        el.text = str(text_)
    return el


def ensure(parent: etree._Element, tag: str) -> etree._Element:
    """The first child `tag` of parent, created when missing."""
    found = parent.find(tag)
    return found if found is not None else etree.SubElement(parent, tag)


def element(tag: str, attrib: dict[str, Any] | None = None, text_: str | None = None) -> etree._Element:
    el = etree.Element(tag, {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text_ is not None:
        el.text = str(text_)
    return el
