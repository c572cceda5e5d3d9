"""A tiny HTML tree (standard library only) so page tests can ask about fields, labels and errors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Iterator

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Elements with this tag and these attribute values (`class_` for class)."""
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k) == v for k, v in wanted.items())]

    def by_id(self, id_: str) -> Node | None:
        found = self.find_all(id=id_)
        assert len(found) <= 1, f"id {id_!r} is used {len(found)} times"
        return found[0] if found else None

    def text(self) -> str:
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                parts.append(child) if isinstance(child, str) else walk(child)

        walk(self)
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def control(page: Node, name: str) -> Node:
    """The one input/select/textarea with this name."""
    found = [n for n in page.iter() if n.tag in ("input", "select", "textarea") and n.attrs.get("name") == name]
    assert len(found) == 1, f"{len(found)} controls named {name!r}"
    return found[0]


def value_of(page: Node, name: str) -> str | None:
    """What the browser would submit for this field as the page stands."""
    node = control(page, name)
    if node.tag == "select":
        selected = [o for o in node.find_all("option") if "selected" in o.attrs]
        return selected[0].attrs.get("value") if selected else None
    if node.tag == "textarea":
        return node.text()
    return node.attrs.get("value")


def labelled(page: Node, node: Node) -> bool:
    """Whether a control has a label: <label for=id> or a <label> around it."""
    if any(a.tag == "label" for a in node.ancestors()):
        return True
    id_ = node.attrs.get("id")
    return bool(id_) and any(label.attrs.get("for") == id_ for label in page.find_all("label"))


def assert_field_error(page: Node, name: str, text: str) -> None:
    """The error sits next to the field: in its .field block, linked with aria-invalid/-describedby."""
    node = control(page, name)
    error_id = node.attrs["id"] + "-error"
    error = page.by_id(error_id)
    assert error is not None, f"no #{error_id} on the page"
    assert text in error.text(), f"#{error_id} says {error.text()!r}, expected {text!r}"
    assert node.attrs.get("aria-invalid") == "true", f"{name} is not marked aria-invalid"
    assert error_id in node.attrs.get("aria-describedby", "").split()
    block = next(a for a in node.ancestors() if "field" in a.attrs.get("class", "").split())
    assert error in list(block.iter()), f"#{error_id} is not in the field block of {name}"


def radios(page: Node, name: str = "slot") -> list[Node]:
    return [n for n in page.find_all("input", type="radio") if n.attrs.get("name") == name]
