"""Declare each field of a libvirt XML document once; reading, writing and keeping the rest follow.

A mapping class wraps one lxml element and names its fields by path, relative to that element:

    class Disk(XmlNode):
        TAG = "disk"
        target = XmlProperty("./target/@dev")      # an attribute
        format = XmlProperty("./driver/@type")
        readonly = XmlProperty("./readonly", PRESENT)  # an element that is there or not
    class Domain(XmlNode):
        vcpus = XmlProperty("./vcpu", INT)           # an element's text
        disks = XmlChildren(Disk, "./devices/disk")

Reading a field of a missing element gives its default; writing one creates the missing elements on the way
(first-level children in the class's ORDER); writing None removes the attribute or element and then the
parents the path made empty. Everything the mapping does not name is left exactly as it was, so a document
read from libvirt is edited in place and given back whole (the same idea as virt-manager's XMLProperty).

Paths are deliberately simple: `.`-relative steps of element names (`prefix:name` for a namespace of the
class's NSMAP), optionally ending in `@attribute`. Anything cleverer stays in plain lxml next to the mapping.
"""
from __future__ import annotations

from typing import Any, Generic, TypeVar

from lxml import etree

from jvp.hypervisor.xml import _UNITS


# -- conversions -----------------------------------------------------------------------------------------
class Conv:
    """How a field's raw string (or element) becomes a Python value and back."""

    element = False  # True: the value is about the element itself (PRESENT), not its text

    def read(self, raw: str) -> Any:
        return raw

    def write(self, value: Any) -> str:
        return str(value)


class _Int(Conv):
    def read(self, raw: str) -> Any:
        raw = raw.strip()
        try:
            return int(raw, 0) if raw.startswith("0x") else int(raw)
        except ValueError:
            return None


class _YesNo(Conv):
    def read(self, raw: str) -> Any:
        return raw.strip() == "yes"

    def write(self, value: Any) -> str:
        return "yes" if value else "no"


class _Strip(Conv):
    def read(self, raw: str) -> Any:
        return raw.strip()


class _Lower(Conv):
    def read(self, raw: str) -> Any:
        return raw.lower()


class _Present(Conv):
    element = True


TEXT, STRIP, INT, YESNO, LOWER, PRESENT = Conv(), _Strip(), _Int(), _YesNo(), _Lower(), _Present()


class Size(Conv):
    """A libvirt size element (`<memory unit='KiB'>1048576</memory>`) in multiples of `unit` bytes; read in
    any unit (`default_unit` when the element names none), written in `write_unit` with the unit set."""

    def __init__(self, unit: int = 1, default_unit: str = "KiB", write_unit: str = "KiB"):
        self.unit, self.default_unit, self.write_unit = unit, default_unit, write_unit


# -- paths -----------------------------------------------------------------------------------------------
def _steps(xpath: str, nsmap: dict[str, str]) -> tuple[list[str], str | None]:
    """'./a/jvp:b/@c' -> (['a', '{urn}b'], 'c')."""
    tags, attr = [], None
    for step in xpath.split("/"):
        if step in (".", ""):
            continue
        if step.startswith("@"):
            attr = step[1:]
            continue
        prefix, _, local = step.rpartition(":")
        tags.append(f"{{{nsmap[prefix]}}}{local}" if prefix else local)
    return tags, attr


def _element(tag: str, nsmap: dict[str, str], parent: etree._Element | None) -> etree._Element:
    """A new element; a namespaced one declares its prefix unless the parent has it in scope already."""
    if tag.startswith("{"):
        uri = tag[1:].partition("}")[0]
        prefix = next((p for p, u in nsmap.items() if u == uri), None)
        if prefix and (parent is None or parent.nsmap.get(prefix) != uri):
            return etree.Element(tag, nsmap={prefix: uri})
    return etree.Element(tag)


def first(el: etree._Element, tags: list[str], path: str) -> etree._Element | None:
    """`el.find(path)` for a path of plain child steps (`tags`, joined: `path`), without ElementPath's
    per-call cost: the first child of each step (C-level iterchildren). When a later step is missing under the
    first candidate, ElementPath's answer may still be under a later sibling: it is asked then (rare)."""
    node = el
    for tag in tags:
        child = next(node.iterchildren(tag), None)
        if child is None:
            return None if node is el else el.find(path)
        node = child
    return node


def every(el: etree._Element, tags: list[str]) -> list[etree._Element]:
    """`el.findall(path)` for a path of plain child steps, in document order."""
    nodes = [el]
    for tag in tags:
        nodes = [child for node in nodes for child in node.iterchildren(tag)]
    return nodes


# -- nodes -----------------------------------------------------------------------------------------------
N = TypeVar("N", bound="XmlNode")


class XmlNode:
    """A view over one element: either a present one, or one that is only created when a field is written
    (a child reached through XmlChild, `<os>` of a domain without one)."""

    TAG: str = ""
    NSMAP: dict[str, str] = {}
    ORDER: tuple[str, ...] = ()  # first-level children created in this order relative to each other

    def __init__(self, el: etree._Element | None = None, *, parent: "XmlNode | None" = None,
                 tags: list[str] | None = None):
        self._el, self._parent, self._tags = el, parent, tags or []

    @classmethod
    def new(cls: type[N], **fields: Any) -> N:
        """A new element of this kind with the fields set in the order given (attributes keep that order)."""
        node = cls(_element(_steps(cls.TAG, cls.NSMAP)[0][0], cls.NSMAP, None))
        for name, value in fields.items():
            if not hasattr(cls, name):
                raise AttributeError(f"{cls.__name__} has no field {name}")
            setattr(node, name, value)
        return node

    # the element, found or made
    @property
    def el(self) -> etree._Element | None:
        if self._el is None and self._parent is not None:
            base = self._parent.el
            self._el = first(base, self._tags, "/".join(self._tags)) if base is not None else None
        return self._el

    def make(self) -> etree._Element:
        if self.el is None:
            self._el = self._parent.descend(self._parent.make(), self._tags)
        return self._el

    def exists(self) -> bool:
        return self.el is not None

    def remove(self) -> None:
        el = self.el
        if el is not None and el.getparent() is not None:
            el.getparent().remove(el)
        if self._parent is not None:
            self._el = None

    def descend(self, el: etree._Element, tags: list[str]) -> etree._Element:
        """The element at `tags` below `el` (this node's element), created where missing."""
        for depth, tag in enumerate(tags):
            found = el.find(tag)
            if found is None:
                found = _element(tag, self.NSMAP, el)
                if depth == 0 and el is self._el:
                    self._insert(el, found)
                else:
                    el.append(found)
            el = found
        return el

    def _insert(self, parent: etree._Element, child: etree._Element) -> None:
        if child.tag in self.ORDER:
            later = set(self.ORDER[self.ORDER.index(child.tag) + 1:])
            for i, sibling in enumerate(parent):
                if sibling.tag in later:
                    parent.insert(i, child)
                    return
        parent.append(child)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XmlNode) and self.el is not None and self.el is other.el

    def __hash__(self) -> int:
        return id(self.el)

    def __repr__(self) -> str:
        el = self.el
        return f"<{type(self).__name__} {etree.tostring(el, encoding='unicode')[:80] if el is not None else '-'}>"


# -- fields ----------------------------------------------------------------------------------------------
class XmlProperty:
    """One field of a mapping class: an attribute (`./target/@dev`) or an element's text (`./name`)."""

    def __init__(self, xpath: str, conv: Conv = TEXT, default: Any = None):
        self.xpath, self.conv, self.default = xpath, conv, default
        self.name = xpath
        self._present, self._size = isinstance(conv, _Present), isinstance(conv, Size)
        self._plain = type(conv) is Conv  # text as it stands: no conversion call
        # per mapping class (its NSMAP): element steps, their joined path, the attribute
        self._parsed: dict[type, tuple[list[str], str, str | None]] = {}

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _path(self, node: XmlNode) -> tuple[list[str], str, str | None]:
        found = self._parsed.get(type(node))
        if found is None:
            tags, attr = _steps(self.xpath, node.NSMAP)
            found = self._parsed[type(node)] = (tags, "/".join(tags), attr)
        return found

    def _find(self, node: XmlNode, tags: list[str]) -> etree._Element | None:
        el = node.el
        return first(el, tags, "/".join(tags)) if el is not None and tags else el

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        tags, path, attr = self._path(node)
        el = node.el
        if el is not None and path:
            el = first(el, tags, path)
        if self._present:
            return el is not None and (attr is None or el.get(attr) is not None)
        if el is None:
            return self.default
        if self._size:
            if el.text is None:
                return self.default
            unit = (el.get("unit") or self.conv.default_unit).lower()
            return int(el.text.strip()) * _UNITS.get(unit, 1) // self.conv.unit
        raw = el.get(attr) if attr else el.text
        if raw is None:
            return self.default
        if self._plain:
            return raw
        value = self.conv.read(raw)
        return self.default if value is None else value

    def __set__(self, node: XmlNode, value: Any) -> None:
        tags, _, attr = self._path(node)
        if value is None or (isinstance(self.conv, _Present) and not value):
            self._clear(node, tags, attr)
            return
        el = node.descend(node.make(), tags)
        if isinstance(self.conv, _Present):
            return
        if isinstance(self.conv, Size):
            el.set("unit", self.conv.write_unit)
            el.text = str(value * self.conv.unit // _UNITS[self.conv.write_unit.lower()])
        elif attr:
            el.set(attr, self.conv.write(value))
        else:
            el.text = self.conv.write(value)

    def _clear(self, node: XmlNode, tags: list[str], attr: str | None) -> None:
        el = self._find(node, tags)
        if el is None:
            return
        if attr:
            el.attrib.pop(attr, None)
        elif tags:
            el.getparent().remove(el)
        else:
            el.text = None
            return
        # parents the path made empty go too (never the node's own element)
        chain = tags if attr else tags[:-1]
        for depth in range(len(chain), 0, -1):
            parent = self._find(node, chain[:depth])
            if parent is None or len(parent) or parent.attrib or (parent.text or "").strip():
                break
            parent.getparent().remove(parent)


def _tags(field: "XmlChild | XmlChildren", node: XmlNode) -> list[str]:
    cache = field.__dict__.setdefault("_parsed", {})
    found = cache.get(type(node))
    if found is None:
        found = cache[type(node)] = _steps(field.xpath, {**node.NSMAP, **field.cls.NSMAP})[0]
    return found


class XmlChild(Generic[N]):
    """A single child element seen through its own mapping class (created when one of its fields is set)."""

    def __init__(self, cls: type[N], xpath: str):
        self.cls, self.xpath = cls, xpath

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        return self.cls(parent=node, tags=_tags(self, node))


class Children(list, Generic[N]):
    """The children of one kind, in document order; add() and remove() edit the document."""

    def __init__(self, owner: XmlNode, tags: list[str], items: list[N]):
        super().__init__(items)
        self.owner, self.tags = owner, tags

    def add(self, child: N) -> N:
        """Place the child after the last one of its kind (a readable diff; libvirt sorts on define anyway),
        creating the parents when it is the first."""
        if len(self):
            self[-1].el.addnext(child.el)
        else:
            self.owner.descend(self.owner.make(), self.tags[:-1]).append(child.el)
        self.append(child)
        return child

    def drop(self, child: N) -> None:
        child.remove()
        self.remove(child)


class XmlChildren(XmlChild[N]):
    """Every child element at a path, each seen through its mapping class."""

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        tags = _tags(self, node)
        el = node.el
        found = every(el, tags) if el is not None else []
        return Children(node, tags, [self.cls(e) for e in found])

