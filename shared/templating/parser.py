"""Parser of Go text/template: items -> trees (``text/template/parse`` semantics).

``parse(name, text, ...)`` returns every tree the text defines (the root plus each
``define``/``block``), keyed by template name, or raises :class:`TemplateSyntaxError` with
Go's message (``template: tpl:1: unexpected "}" in operand``).
"""

from __future__ import annotations

from collections.abc import Collection

from shared.templating import lexer as L
from shared.templating import nodes as N
from shared.templating.errors import TemplateSyntaxError
from shared.templating.gofmt import go_quote
from shared.templating.lexer import Item
from shared.templating.literals import LiteralError, go_unquote, parse_number

__all__ = ["go_unquote", "parse", "parse_number"]

#: parser invocations, for tests proving that rendering does not re-parse
PARSE_CALLS = [0]

_MAX_PAREN_DEPTH = 1000


# --------------------------------------------------------------------------------------
# the parser


class _Tree:
    def __init__(
        self,
        name: str,
        parse_name: str,
        text: str,
        items: list[Item],
        idx: list[int],
        funcs: Collection[str],
        tree_set: dict[str, N.ListNode],
        order: list[str],
    ) -> None:
        self.name = name
        self.info = N.TreeInfo(name, parse_name, text)
        self.items = items
        self.idx = idx  # shared position in the item list
        self.funcs = funcs
        self.tree_set = tree_set
        self.order = order
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.paren_depth = 0
        self.token_line = 1
        self.root: N.ListNode | None = None

    # -- tokens ---------------------------------------------------------------------
    def next(self) -> Item:
        i = self.idx[0]
        item = self.items[i] if i < len(self.items) else self.items[-1]
        self.idx[0] = i + 1
        self.token_line = item.line
        return item

    def backup(self, n: int = 1) -> None:
        self.idx[0] -= n

    def peek(self) -> Item:
        i = self.idx[0]
        return self.items[i] if i < len(self.items) else self.items[-1]

    def next_non_space(self) -> Item:
        while True:
            item = self.next()
            if item.typ != L.SPACE:
                return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # -- errors ---------------------------------------------------------------------
    def errorf(self, msg: str) -> None:
        raise TemplateSyntaxError(f"template: {self.info.parse_name}:{self.token_line}: {msg}")

    def error(self, exc: Exception) -> None:
        self.errorf(str(exc))

    def expect(self, typ: str, context: str) -> Item:
        token = self.next_non_space()
        if token.typ != typ:
            self.unexpected(token, context)
        return token

    def expect_one_of(self, t1: str, t2: str, context: str) -> Item:
        token = self.next_non_space()
        if token.typ not in (t1, t2):
            self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> None:
        if token.typ == L.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.info.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf(f"{token}{extra}")
        self.errorf(f"unexpected {token} in {context}")

    # -- structure ------------------------------------------------------------------
    def add(self) -> None:
        assert self.root is not None
        existing = self.tree_set.get(self.name)
        if existing is None or N.is_empty_tree(existing):
            if self.name not in self.tree_set:
                self.order.append(self.name)
            self.tree_set[self.name] = self.root
            return
        if not N.is_empty_tree(self.root):
            self.errorf(f"template: multiple definition of template {go_quote(self.name)}")

    def child(self, name: str) -> _Tree:
        t = _Tree(
            name,
            self.info.parse_name,
            self.info.text,
            self.items,
            self.idx,
            self.funcs,
            self.tree_set,
            self.order,
        )
        t.info = N.TreeInfo(name, self.info.parse_name, self.info.text)
        return t

    def parse(self) -> None:
        self.root = N.ListNode(self.peek().pos, self.info)
        while self.peek().typ != L.EOF:
            if self.peek().typ == L.LEFT_DELIM:
                self.next()
                if self.next_non_space().typ == L.DEFINE:
                    new = self.child("definition")
                    new.parse_definition()
                    continue
                # back up to the left delimiter
                while self.items[self.idx[0] - 1].typ != L.LEFT_DELIM:
                    self.backup()
                self.backup()
            n = self.text_or_action()
            if isinstance(n, N.EndNode | N.ElseNode):
                self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.expect_one_of(L.STRING, L.RAW_STRING, context)
        try:
            self.name = go_unquote(name.val)
        except ValueError as exc:
            self.error(exc)
        self.info = N.TreeInfo(self.name, self.info.parse_name, self.info.text)
        self.expect(L.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, N.EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[N.ListNode, N.Node]:
        lst = N.ListNode(self.peek_non_space().pos, self.info)
        while self.peek_non_space().typ != L.EOF:
            n = self.text_or_action()
            if isinstance(n, N.EndNode | N.ElseNode):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")
        raise AssertionError("unreachable")

    def text_or_action(self) -> N.Node:
        token = self.next_non_space()
        if token.typ == L.TEXT:
            return N.TextNode(token.pos, self.info, token.val)
        if token.typ == L.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ == L.COMMENT:
            return N.CommentNode(token.pos, self.info, token.val)
        self.unexpected(token, "input")
        raise AssertionError("unreachable")

    def action(self) -> N.Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == L.BLOCK:
            return self.block_control()
        if typ == L.BREAK:
            return self.break_control(token, "break")
        if typ == L.CONTINUE:
            return self.break_control(token, "continue")
        if typ == L.ELSE:
            return self.else_control()
        if typ == L.END:
            return N.EndNode(self.expect(L.RIGHT_DELIM, "end").pos, self.info)
        if typ == L.IF:
            return self.branch_control(N.IfNode, "if")
        if typ == L.RANGE:
            return self.branch_control(N.RangeNode, "range")
        if typ == L.TEMPLATE:
            return self.template_control()
        if typ == L.WITH:
            return self.branch_control(N.WithNode, "with")
        self.backup()
        token = self.peek()
        return N.ActionNode(
            token.pos, self.info, token.line, self.pipeline("command", L.RIGHT_DELIM)
        )

    def break_control(self, start: Item, word: str) -> N.Node:
        token = self.next_non_space()
        if token.typ != L.RIGHT_DELIM:
            self.unexpected(token, "{{" + word + "}}")
        if self.range_depth == 0:
            self.errorf("{{" + word + "}} outside {{range}}")
        if word == "break":
            return N.BreakNode(start.pos, self.info, start.line)
        return N.ContinueNode(start.pos, self.info, start.line)

    def else_control(self) -> N.Node:
        peek = self.peek_non_space()
        if peek.typ in (L.IF, L.WITH):
            return N.ElseNode(peek.pos, self.info, peek.line)
        token = self.expect(L.RIGHT_DELIM, "else")
        return N.ElseNode(token.pos, self.info, token.line)

    def branch_control(self, cls: type[N.BranchNode], context: str) -> N.Node:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, L.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: N.ListNode | None = None
            if isinstance(nxt, N.ElseNode):
                if context == "if" and self.peek().typ == L.IF:
                    self.next()
                    else_list = N.ListNode(nxt.pos, self.info)
                    else_list.nodes.append(self.branch_control(N.IfNode, "if"))
                elif context == "with" and self.peek().typ == L.WITH:
                    self.next()
                    else_list = N.ListNode(nxt.pos, self.info)
                    else_list.nodes.append(self.branch_control(N.WithNode, "with"))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, N.EndNode):
                        self.errorf(f"expected end; found {nxt}")
        finally:
            del self.vars[mark:]
        return cls(pipe.pos, self.info, pipe.line, pipe, lst, else_list)

    def parse_template_name(self, token: Item, context: str) -> str:
        if token.typ in (L.STRING, L.RAW_STRING):
            try:
                return go_unquote(token.val)
            except ValueError as exc:
                self.error(exc)
        self.unexpected(token, context)
        raise AssertionError("unreachable")

    def template_control(self) -> N.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = None
        if self.next_non_space().typ != L.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, L.RIGHT_DELIM)
        return N.TemplateNode(token.pos, self.info, token.line, name, pipe)

    def block_control(self) -> N.Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = self.pipeline(context, L.RIGHT_DELIM)
        block = self.child(name)
        block.root, end = block.item_list()
        if not isinstance(end, N.EndNode):
            self.errorf(f"unexpected {end} in {context}")
        block.add()
        return N.TemplateNode(token.pos, self.info, token.line, name, pipe)

    # -- pipelines ------------------------------------------------------------------
    def pipeline(self, context: str, end: str) -> N.PipeNode:
        token = self.peek_non_space()
        pipe = N.PipeNode(token.pos, self.info, token.line)
        while True:  # decls
            v = self.peek_non_space()
            if v.typ != L.VARIABLE:
                break
            at_var = self.idx[0]
            self.next_non_space()
            token_after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (L.ASSIGN, L.DECLARE):
                pipe.is_assign = nxt.typ == L.ASSIGN
                self.next_non_space()
                pipe.decl.append(N.VariableNode(v.pos, self.info, [v.val]))
                self.vars.append(v.val)
            elif nxt.typ == L.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(N.VariableNode(v.pos, self.info, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (L.VARIABLE, L.RIGHT_DELIM, L.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            else:
                _ = token_after
                self.idx[0] = at_var
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in (
                L.BOOL,
                L.CHAR_CONSTANT,
                L.COMPLEX,
                L.DOT,
                L.FIELD,
                L.IDENTIFIER,
                L.NUMBER,
                L.NIL,
                L.RAW_STRING,
                L.STRING,
                L.VARIABLE,
                L.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: N.PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(
                c.args[0], N.BoolNode | N.DotNode | N.NilNode | N.NumberNode | N.StringNode
            ):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> N.CommandNode:
        cmd = N.CommandNode(self.peek_non_space().pos, self.info)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == L.SPACE:
                continue
            if token.typ in (L.RIGHT_DELIM, L.RIGHT_PAREN):
                self.backup()
            elif token.typ == L.PIPE:
                pass
            else:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> N.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == L.FIELD:
            chain = N.ChainNode(self.peek().pos, self.info, node)
            while self.peek().typ == L.FIELD:
                chain.field.append(self.next().val[1:])
            if isinstance(node, N.FieldNode):
                return N.FieldNode(chain.pos, self.info, [*node.ident, *chain.field])
            if isinstance(node, N.VariableNode):
                return N.VariableNode(chain.pos, self.info, [*node.ident, *chain.field])
            if isinstance(node, N.BoolNode | N.StringNode | N.NumberNode | N.NilNode | N.DotNode):
                self.errorf(f"unexpected . after term {go_quote(str(node))}")
            return chain
        return node

    def term(self) -> N.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == L.IDENTIFIER:
            if token.val not in self.funcs:
                self.errorf(f"function {go_quote(token.val)} not defined")
            return N.IdentifierNode(token.pos, self.info, token.val)
        if typ == L.DOT:
            return N.DotNode(token.pos, self.info)
        if typ == L.NIL:
            return N.NilNode(token.pos, self.info)
        if typ == L.VARIABLE:
            ident = token.val.split(".")
            if ident[0] not in self.vars:
                self.errorf(f"undefined variable {go_quote(ident[0])}")
            return N.VariableNode(token.pos, self.info, ident)
        if typ == L.FIELD:
            return N.FieldNode(token.pos, self.info, [token.val[1:]])
        if typ == L.BOOL:
            return N.BoolNode(token.pos, self.info, token.val == "true")
        if typ in (L.CHAR_CONSTANT, L.COMPLEX, L.NUMBER):
            try:
                num = parse_number(token.val, typ)
            except LiteralError as exc:
                self.error(exc)
            return N.NumberNode(token.pos, self.info, token.val, num)
        if typ == L.LEFT_PAREN:
            self.paren_depth += 1
            if self.paren_depth > _MAX_PAREN_DEPTH:
                self.errorf(f"max expression depth exceeded ({_MAX_PAREN_DEPTH})")
            try:
                return self.pipeline("parenthesized pipeline", L.RIGHT_PAREN)
            finally:
                self.paren_depth -= 1
        if typ in (L.STRING, L.RAW_STRING):
            try:
                s = go_unquote(token.val)
            except ValueError as exc:
                self.error(exc)
            return N.StringNode(token.pos, self.info, token.val, s)
        self.backup()
        return None


def parse(
    name: str,
    text: str,
    *,
    funcs: Collection[str],
    delims: tuple[str, str] = ("{{", "}}"),
) -> tuple[dict[str, N.ListNode], list[str], dict[str, N.TreeInfo]]:
    """Parse ``text`` as template ``name``.

    Returns (trees by name, names in definition order, tree info by name).
    """
    PARSE_CALLS[0] += 1
    items = L.lex(name, text, delims[0], delims[1])
    tree_set: dict[str, N.ListNode] = {}
    order: list[str] = []
    t = _Tree(name, name, text, items, [0], funcs, tree_set, order)
    try:
        t.parse()
        t.add()
    except RecursionError:
        raise TemplateSyntaxError(
            f"template: {name}:{t.token_line}: template nesting too deep"
        ) from None
    infos = {n: tree.tree for n, tree in tree_set.items() if tree.tree is not None}
    return tree_set, order, infos
