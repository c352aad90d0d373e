"""Executor of Go text/template: compiles parse trees into Python closures, once.

Each node becomes a closure ``run(st, dot)`` (statements) or ``ev(st, dot)`` (values);
rendering walks no tree and parses nothing. Semantics follow Go's ``text/template/exec.go``:
variables live on a stack with marks, ``missingkey`` decides what a missing map key gives,
pipelines pass the previous value as the last argument, ``and``/``or`` short-circuit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.templating import nodes as N
from shared.templating.builtins import BUILTINS, MISSING, is_true
from shared.templating.errors import (
    TemplateError,
    TemplateLimitError,
)
from shared.templating.expressions import ExpressionCompiler
from shared.templating.gofmt import go_quote
from shared.templating.parser import parse
from shared.templating.runtime import (
    NOFINAL,
    Break,
    Continue,
    Limits,
    Run,
    State,
    fail,
    format_action_value,
    html_action_value,
    last_arg,
    limit_fail,
    noop,
    over_time,
    sorted_keys,
    var_set,
)
from shared.templating.values import GoInt, GoStruct, GoUint8

__all__ = ["Compiler", "Limits", "Run", "State", "format_action_value"]

_now = time.monotonic


class Compiler(ExpressionCompiler):
    """Compiles the trees of one template set with one set of options."""

    def compile_source(self, name: str, text: str) -> Run:
        """Parse ``text`` against this running set (sprig ``tpl``); returns its compiled root.

        The text's definitions are visible to itself only: this (shared, cached) set is never
        changed (renders may run concurrently).
        """
        names = set(BUILTINS) | set(self.funcs)
        parsed, order, _ = parse(name, text, funcs=names)
        child = Compiler(self.funcs, self.missingkey, html_mode=self.html_mode)
        child.templates.update(self.templates)
        trees: dict[str, N.ListNode] = {}
        for n in order:
            if n != name and n in self.templates and N.is_empty_tree(parsed[n]):
                continue
            trees[n] = parsed[n]
        for n, tree in trees.items():
            if n != name:
                child.templates[n] = child.compile_list(tree)
        return child.compile_list(trees.get(name))

    def compile_list(self, lst: N.ListNode | None) -> Run:
        if lst is None:
            return noop
        fns: list[Run] = []
        segment: list[N.Node] = []
        for n in lst.nodes:
            if isinstance(n, N.TextNode) or (isinstance(n, N.ActionNode) and not n.pipe.decl):
                if not (isinstance(n, N.TextNode) and not n.text):
                    segment.append(n)
                continue
            if segment:
                fns.append(self.compile_segment(segment))
                segment = []
            f = self.compile_node(n)
            if f is not noop:
                fns.append(f)
        if segment:
            fns.append(self.compile_segment(segment))
        if not fns:
            return noop
        if len(fns) == 1:
            return fns[0]
        if len(fns) == 2:
            f0, f1 = fns

            def run2(st: State, dot: Any) -> None:
                f0(st, dot)
                f1(st, dot)

            return run2
        fns_t = tuple(fns)

        def run(st: State, dot: Any) -> None:
            for f in fns_t:
                f(st, dot)

        return run

    def compile_segment(self, nodes: list[N.Node]) -> Run:
        """A run of text and printing actions as ONE generated function.

        The generated source only names closures and constants held in its namespace:
        template text never becomes source code.
        """
        ns: dict[str, Any] = {
            "fmt": _printer(html_action_value if self.html_mode else format_action_value),
            "NOFINAL": NOFINAL,
        }
        lines = ["def run(st, dot):", "    a = st.out.append"]
        for i, n in enumerate(nodes):
            if isinstance(n, N.TextNode):
                ns[f"t{i}"] = n.text
                lines.append(f"    a(t{i})")
            else:
                assert isinstance(n, N.ActionNode)
                if len(n.pipe.cmds) == 1:
                    # one command: call it directly (nil and missing print alike)
                    ns[f"e{i}"] = self.compile_command(n.pipe.cmds[0])
                    call = f"e{i}(st, dot, NOFINAL)"
                else:
                    ns[f"e{i}"] = self.compile_pipeline(n.pipe)
                    call = f"e{i}(st, dot)"
                ns[f"n{i}"] = n
                if self.html_mode:
                    lines.append(f"    a(fmt(st, n{i}, {call}))")
                else:
                    lines.append(f"    v = {call}")
                    lines.append(f"    a(v if type(v) is str else fmt(st, n{i}, v))")
        exec("\n".join(lines), ns)
        run: Run = ns["run"]
        return run

    def compile_node(self, node: N.Node) -> Run:
        if isinstance(node, N.TextNode):
            return self.compile_text(node.text)
        if isinstance(node, N.ActionNode):
            return self.compile_action(node)
        if isinstance(node, N.IfNode | N.WithNode):
            return self.compile_if(node)
        if isinstance(node, N.RangeNode):
            return self.compile_range(node)
        if isinstance(node, N.TemplateNode):
            return self.compile_template_call(node)
        if isinstance(node, N.ListNode):
            return self.compile_list(node)
        if isinstance(node, N.CommentNode):
            return noop
        if isinstance(node, N.BreakNode):

            def brk(st: State, dot: Any) -> None:
                raise Break

            return brk
        if isinstance(node, N.ContinueNode):

            def cont(st: State, dot: Any) -> None:
                raise Continue

            return cont
        raise TemplateError(f"unknown node: {node}")

    def compile_text(self, text: str) -> Run:
        return self.compile_segment([N.TextNode(0, None, text)]) if text else noop

    def compile_action(self, node: N.ActionNode) -> Run:
        if not node.pipe.decl:
            return self.compile_segment([node])
        pipe = self.compile_pipeline(node.pipe)

        def run_decl(st: State, dot: Any) -> None:
            pipe(st, dot)

        return run_decl

    def compile_if(self, node: N.BranchNode) -> Run:
        pipe = self.compile_pipeline(node.pipe)
        body = self.compile_list(node.list)
        other = self.compile_list(node.else_list) if node.else_list is not None else None
        is_with = isinstance(node, N.WithNode)

        def run(st: State, dot: Any) -> None:
            mark = len(st.vars)
            v = pipe(st, dot)
            if is_true(v):
                body(st, v if is_with else dot)
            elif other is not None:
                other(st, dot)
            if len(st.vars) > mark:
                del st.vars[mark:]

        return run

    def compile_range(self, node: N.BranchNode) -> Run:
        pipe = self.compile_pipeline(node.pipe)
        body = self.compile_list(node.list)
        other = self.compile_list(node.else_list) if node.else_list is not None else None
        decl = node.pipe.decl
        ndecl = len(decl)
        is_assign = node.pipe.is_assign
        names = [d.ident[0] for d in decl]
        has_jump = _contains_jump(node.list)
        last_node = last_arg(node.pipe)

        def one(st: State, index: Any, elem: Any, mark: int) -> bool:
            """Run one iteration; False after {{break}}."""
            st.iters += 1
            if st.iters > st.limits.max_iterations:
                raise TemplateLimitError(
                    f"template: {st.tmpl_name}: range iterations exceed the limit of "
                    f"{st.limits.max_iterations}",
                    "".join(st.out),
                    kind="iterations",
                )
            if not st.iters & 15 and _now() > st.budget.deadline:
                over_time(st, last_node, "range")
            if ndecl:
                vs = st.vars
                if is_assign:
                    if ndecl > 1:
                        var_set(st, last_node, names[0], index)
                        var_set(st, last_node, names[1], elem)
                    else:
                        var_set(st, last_node, names[0], elem)
                else:
                    vs[mark - 1][1] = elem
                    if ndecl > 1:
                        vs[mark - 2][1] = index
            if has_jump:
                try:
                    body(st, elem)
                except Continue:
                    pass
                except Break:
                    del st.vars[mark:]
                    return False
            else:
                body(st, elem)
            if len(st.vars) > mark:
                del st.vars[mark:]
            if len(st.out) - st.checked > 64:
                st.check()
            return True

        def run(st: State, dot: Any) -> None:
            outer = len(st.vars)
            val = pipe(st, dot)
            mark = len(st.vars)
            t = type(val)
            ran = False
            if t is list or t is tuple:
                if val:
                    ran = True
                    for i, elem in enumerate(val):
                        if not one(st, GoInt(i), elem, mark):
                            break
            elif t is dict:
                if val:
                    ran = True
                    for k in sorted_keys(val):
                        if not one(st, k, val[k], mark):
                            break
            elif val is MISSING or val is None:
                pass
            elif isinstance(val, int) and not isinstance(val, bool):
                if ndecl > 1:
                    fail(
                        st,
                        last_node,
                        f"can't use {format_action_value(val)} to iterate over more than one variable",
                    )
                if val > 0:
                    ran = True
                    cls = type(val)
                    for i in range(int(val)):
                        v = cls(i)
                        if not one(st, v, v, mark):
                            break
            elif isinstance(val, bytes):
                if val:
                    ran = True
                    for i, byte in enumerate(val):
                        if not one(st, GoInt(i), GoUint8(byte), mark):
                            break
            elif isinstance(val, list | tuple | dict):
                items = list(val.items()) if isinstance(val, dict) else list(enumerate(val))
                if items:
                    ran = True
                    for k, e in items:
                        if not one(st, GoInt(k) if isinstance(val, list | tuple) else k, e, mark):
                            break
            else:
                fail(st, last_node, f"range can't iterate over {format_action_value(val)}")
            if not ran and other is not None:
                other(st, dot)
            if len(st.vars) > outer:
                del st.vars[outer:]

        return run

    def compile_template_call(self, node: N.TemplateNode) -> Run:
        name = node.name
        pipe = self.compile_pipeline(node.pipe) if node.pipe is not None else None
        templates = self.templates

        def run(st: State, dot: Any) -> None:
            tmpl = templates.get(name)
            if tmpl is None:
                fail(st, node, f"template {go_quote(name)} not defined")
            if st.depth >= st.limits.max_depth:
                fail(st, node, f"exceeded maximum template depth ({st.limits.max_depth})")
            if _now() > st.budget.deadline:
                over_time(st, node, f"template {go_quote(name)}")
            newdot = pipe(st, dot) if pipe is not None else MISSING
            saved_vars, saved_name = st.vars, st.tmpl_name
            st.vars = [["$", newdot]]
            st.tmpl_name = name
            st.depth += 1
            try:
                tmpl(st, newdot)
                st.check()
            except RecursionError:
                raise TemplateLimitError(
                    f"template: {saved_name}: template recursion too deep",
                    "".join(st.out),
                    kind="depth",
                ) from None
            st.depth -= 1
            st.vars, st.tmpl_name = saved_vars, saved_name

        return run


def _printer(fmt: Callable[[Any], str]) -> Callable[[State, N.Node, Any], str]:
    """``fmt`` for an action's value; a list, map or struct is measured first (a value
    holding the same big list many times would print all of it each time)."""

    def out(st: State, node: N.Node, v: Any) -> str:
        if isinstance(v, list | tuple | dict | GoStruct):
            try:
                st.budget.check_expansion(v, "printing a value")
            except TemplateLimitError as exc:
                limit_fail(st, node, exc)
        return fmt(v)

    return out


def _contains_jump(lst: N.ListNode | None) -> bool:
    if lst is None:
        return False
    for n in lst.nodes:
        if isinstance(n, N.BreakNode | N.ContinueNode):
            return True
        if isinstance(n, N.IfNode | N.WithNode):
            if _contains_jump(n.list) or _contains_jump(n.else_list):
                return True
        elif isinstance(n, N.RangeNode):
            if _contains_jump(n.else_list):
                return True
        elif isinstance(n, N.ListNode) and _contains_jump(n):
            return True
    return False
