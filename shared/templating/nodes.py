"""Parse tree of Go text/template (the node kinds of ``text/template/parse``).

``str(node)`` re-serialises a node as Go's ``Node.String()`` does; execution errors quote
it (``executing "tpl" at <.a.b>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "BreakNode",
    "ChainNode",
    "CommandNode",
    "CommentNode",
    "ContinueNode",
    "DotNode",
    "ElseNode",
    "EndNode",
    "FieldNode",
    "IdentifierNode",
    "IfNode",
    "ListNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "RangeNode",
    "StringNode",
    "TemplateNode",
    "TextNode",
    "TreeInfo",
    "VariableNode",
    "WithNode",
    "is_empty_tree",
]


@dataclass(eq=False, slots=True)
class TreeInfo:
    """What error messages need from the tree a node belongs to."""

    name: str
    parse_name: str
    text: str

    def location(self, pos: int) -> str:
        """``parseName:line:col`` with col a 0-based byte offset, as Go's ErrorContext."""
        before = self.text[:pos]
        nl = before.rfind("\n")
        col_text = before if nl < 0 else before[nl + 1 :]
        col = len(col_text.encode("utf-8", "surrogateescape"))
        line = 1 + before.count("\n")
        return f"{self.parse_name}:{line}:{col}"


class Node:
    __slots__ = ("pos", "tree")

    def __init__(self, pos: int, tree: TreeInfo | None) -> None:
        self.pos = pos
        self.tree = tree


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int, tree: TreeInfo | None) -> None:
        super().__init__(pos, tree)
        self.nodes: list[Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, tree: TreeInfo | None, text: str) -> None:
        super().__init__(pos, tree)
        self.text = text

    def __str__(self) -> str:
        return self.text


class CommentNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, tree: TreeInfo | None, text: str) -> None:
        super().__init__(pos, tree)
        self.text = text

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


class PipeNode(Node):
    __slots__ = ("cmds", "decl", "is_assign", "line")

    def __init__(self, pos: int, tree: TreeInfo | None, line: int) -> None:
        super().__init__(pos, tree)
        self.line = line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class ActionNode(Node):
    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, tree: TreeInfo | None, line: int, pipe: PipeNode) -> None:
        super().__init__(pos, tree)
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, tree: TreeInfo | None) -> None:
        super().__init__(pos, tree)
        self.args: list[Node] = []

    def __str__(self) -> str:
        parts = []
        for a in self.args:
            parts.append(f"({a})" if isinstance(a, PipeNode) else str(a))
        return " ".join(parts)


class IdentifierNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, tree: TreeInfo | None, ident: str) -> None:
        super().__init__(pos, tree)
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class VariableNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, tree: TreeInfo | None, ident: list[str]) -> None:
        super().__init__(pos, tree)
        self.ident = ident

    def __str__(self) -> str:
        return ".".join(self.ident)


class DotNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class FieldNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, tree: TreeInfo | None, ident: list[str]) -> None:
        super().__init__(pos, tree)
        self.ident = ident

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    __slots__ = ("field", "node")

    def __init__(self, pos: int, tree: TreeInfo | None, node: Node) -> None:
        super().__init__(pos, tree)
        self.node = node
        self.field: list[str] = []

    def __str__(self) -> str:
        s = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return s + "".join("." + f for f in self.field)


class BoolNode(Node):
    __slots__ = ("true",)

    def __init__(self, pos: int, tree: TreeInfo | None, true: bool) -> None:
        super().__init__(pos, tree)
        self.true = true

    def __str__(self) -> str:
        return "true" if self.true else "false"


@dataclass(slots=True)
class _Num:
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int64: int = 0
    uint64: int = 0
    float64: float = 0.0
    complex128: complex = 0j
    extra: dict[str, Any] = field(default_factory=dict)


class NumberNode(Node):
    __slots__ = ("num", "text", "value")

    def __init__(self, pos: int, tree: TreeInfo | None, text: str, num: _Num) -> None:
        super().__init__(pos, tree)
        self.text = text
        self.num = num
        self.value: Any = None  # the ideal constant, set by the parser when representable

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, tree: TreeInfo | None, quoted: str, text: str) -> None:
        super().__init__(pos, tree)
        self.quoted = quoted
        self.text = text

    def __str__(self) -> str:
        return self.quoted


class EndNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{end}}"


class ElseNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, tree: TreeInfo | None, line: int) -> None:
        super().__init__(pos, tree)
        self.line = line

    def __str__(self) -> str:
        return "{{else}}"


class BreakNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, tree: TreeInfo | None, line: int) -> None:
        super().__init__(pos, tree)
        self.line = line

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, tree: TreeInfo | None, line: int) -> None:
        super().__init__(pos, tree)
        self.line = line

    def __str__(self) -> str:
        return "{{continue}}"


class BranchNode(Node):
    __slots__ = ("else_list", "line", "list", "pipe")
    keyword = ""

    def __init__(
        self,
        pos: int,
        tree: TreeInfo | None,
        line: int,
        pipe: PipeNode,
        lst: ListNode,
        else_list: ListNode | None,
    ) -> None:
        super().__init__(pos, tree)
        self.line = line
        self.pipe = pipe
        self.list = lst
        self.else_list = else_list

    def __str__(self) -> str:
        s = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


class IfNode(BranchNode):
    __slots__ = ()
    keyword = "if"


class RangeNode(BranchNode):
    __slots__ = ()
    keyword = "range"


class WithNode(BranchNode):
    __slots__ = ()
    keyword = "with"


class TemplateNode(Node):
    __slots__ = ("line", "name", "pipe")

    def __init__(
        self, pos: int, tree: TreeInfo | None, line: int, name: str, pipe: PipeNode | None
    ) -> None:
        super().__init__(pos, tree)
        self.line = line
        self.name = name
        self.pipe = pipe

    def __str__(self) -> str:
        from shared.templating.gofmt import go_quote

        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


def is_empty_tree(n: Node | None) -> bool:
    """Go's ``parse.IsEmptyTree``: only space text and comments."""
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(c) for c in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip() == ""
    return False
