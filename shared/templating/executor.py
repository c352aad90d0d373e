"""Executor of Go text/template: compiles parse trees into Python closures, once.

Each node becomes a closure ``run(st, dot)`` (statements) or ``ev(st, dot)`` (values);
rendering walks no tree and parses nothing. Semantics follow Go's ``text/template/exec.go``:
variables live on a stack with marks, ``missingkey`` decides what a missing map key gives,
pipelines pass the previous value as the last argument, ``and``/``or`` short-circuit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from shared.templating import builtins as B
from shared.templating import gofmt
from shared.templating import nodes as N
from shared.templating.builtins import MISSING, BuiltinError, is_true
from shared.templating.errors import (
    FunctionError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
)
from shared.templating.lexer import _go_quote
from shared.templating.values import GoInt, GoStruct, GoUint8

__all__ = ["Compiler", "Limits", "State", "format_action_value"]

Run = Callable[["State", Any], None]
Ev = Callable[["State", Any], Any]
Cmd = Callable[["State", Any, Any], Any]

_NOFINAL: Any = object()  # Go's missingVal: no value piped in
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds against hostile templates (per render)."""

    max_output: int = 1 << 20  # characters
    max_iterations: int = 100_000  # range iterations, all loops together
    max_depth: int = 100  # nested {{template}} calls


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    __slots__ = (
        "ctx",
        "depth",
        "iters",
        "limits",
        "out",
        "root",
        "size",
        "tmpl_name",
        "vars",
    )

    def __init__(self, tmpl_name: str, dot: Any, limits: Limits) -> None:
        self.out: list[str] = []
        self.size = 0
        self.vars: list[list[Any]] = [["$", dot]]
        self.root = dot  # the data the render started with
        self.depth = 0
        self.iters = 0
        self.tmpl_name = tmpl_name
        self.limits = limits
        self.ctx: Any = None

    def write(self, s: str) -> None:
        self.out.append(s)
        self.size += len(s)
        if self.size > self.limits.max_output:
            raise TemplateLimitError(
                f"template: {self.tmpl_name}: output exceeds the limit of "
                f"{self.limits.max_output} characters",
                "".join(self.out)[: self.limits.max_output],
            )


def fail(st: State, node: N.Node, msg: str) -> NoReturn:
    tree = node.tree
    loc = tree.location(node.pos) if tree is not None else "?"
    raise TemplateExecError(
        f"template: {loc}: executing {_go_quote(st.tmpl_name)} at <{node}>: {msg}",
        "".join(st.out),
    )


def format_action_value(v: Any) -> str:
    """What ``{{ pipeline }}`` prints (fmt.Fprint of the value; nil is ``<no value>``)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if v is None or v is MISSING:
        return "<no value>"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    return gofmt.format_value(v)


def _html_action_value(v: Any) -> str:
    if v is None or v is MISSING:
        return ""
    s = format_action_value(v)
    return B.html_escape_string(s).replace("+", "&#43;")


def _var_get(st: State, node: N.Node, name: str) -> Any:
    vs = st.vars
    i = len(vs) - 1
    while i >= 0:
        e = vs[i]
        if e[0] == name:
            return e[1]
        i -= 1
    fail(st, node, f"undefined variable: {name}")


def _var_set(st: State, node: N.Node, name: str, value: Any) -> None:
    vs = st.vars
    i = len(vs) - 1
    while i >= 0:
        e = vs[i]
        if e[0] == name:
            e[1] = value
            return
        i -= 1
    fail(st, node, f"undefined variable: {name}")


_arity_cache: dict[int, tuple[int, int | None]] = {}


def _arity(fn: Callable[..., Any], *, cache: bool = True) -> tuple[int, int | None]:
    """(required positional args, max positional args or None when variadic)."""
    key = id(fn)
    got = _arity_cache.get(key) if cache else None
    if got is not None:
        return got
    if not cache:
        key = -1  # a scratch slot: short-lived callables must not be cached by id
    params = getattr(fn, "go_params", None)
    if isinstance(params, tuple | list):
        variadic = bool(params) and str(params[-1]).startswith("...")
        fixed = len(params) - 1 if variadic else len(params)
        got = (fixed, None if variadic else fixed)
        _arity_cache[key] = got
        return got
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        got = (0, None)
    else:
        req = 0
        mx: int | None = 0
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if p.default is p.empty:
                    req += 1
                if mx is not None:
                    mx += 1
            elif p.kind == p.VAR_POSITIONAL:
                mx = None
        if getattr(fn, "needs_context", False):
            req = max(0, req - 1)
            mx = None if mx is None else max(0, mx - 1)
        got = (req, mx)
    _arity_cache[key] = got
    return got


class Compiler:
    """Compiles the trees of one template set with one set of options."""

    def __init__(
        self,
        funcs: Mapping[str, Callable[..., Any]],
        missingkey: str,
        *,
        html_mode: bool = False,
    ) -> None:
        self.funcs = funcs
        self.missingkey = missingkey
        self.html_mode = html_mode
        self.templates: dict[str, Run] = {}

    # -- statements -----------------------------------------------------------------
    def compile_list(self, lst: N.ListNode | None) -> Run:
        if lst is None:
            return _noop
        fns = [self.compile_node(n) for n in lst.nodes]
        fns = [f for f in fns if f is not _noop]
        if not fns:
            return _noop
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
            return _noop
        if isinstance(node, N.BreakNode):

            def brk(st: State, dot: Any) -> None:
                raise _Break

            return brk
        if isinstance(node, N.ContinueNode):

            def cont(st: State, dot: Any) -> None:
                raise _Continue

            return cont
        raise TemplateError(f"unknown node: {node}")

    def compile_text(self, text: str) -> Run:
        n = len(text)
        if not n:
            return _noop

        def run(st: State, dot: Any) -> None:
            st.out.append(text)
            st.size += n
            if st.size > st.limits.max_output:
                st.out.pop()
                st.size -= n
                st.write(text)

        return run

    def compile_action(self, node: N.ActionNode) -> Run:
        pipe = self.compile_pipeline(node.pipe)
        if node.pipe.decl:

            def run_decl(st: State, dot: Any) -> None:
                pipe(st, dot)

            return run_decl
        fmt = _html_action_value if self.html_mode else format_action_value

        def run(st: State, dot: Any) -> None:
            v = pipe(st, dot)
            s = v if type(v) is str and not self.html_mode else fmt(v)
            st.out.append(s)
            st.size += len(s)
            if st.size > st.limits.max_output:
                st.out.pop()
                st.size -= len(s)
                st.write(s)

        return run

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
        last_node = _last_arg(node.pipe)

        def one(st: State, index: Any, elem: Any, mark: int) -> bool:
            """Run one iteration; False after {{break}}."""
            st.iters += 1
            if st.iters > st.limits.max_iterations:
                raise TemplateLimitError(
                    f"template: {st.tmpl_name}: range iterations exceed the limit of "
                    f"{st.limits.max_iterations}",
                    "".join(st.out),
                )
            if ndecl:
                vs = st.vars
                if is_assign:
                    if ndecl > 1:
                        _var_set(st, last_node, names[0], index)
                        _var_set(st, last_node, names[1], elem)
                    else:
                        _var_set(st, last_node, names[0], elem)
                else:
                    vs[mark - 1][1] = elem
                    if ndecl > 1:
                        vs[mark - 2][1] = index
            if has_jump:
                try:
                    body(st, elem)
                except _Continue:
                    pass
                except _Break:
                    del st.vars[mark:]
                    return False
            else:
                body(st, elem)
            if len(st.vars) > mark:
                del st.vars[mark:]
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
                    for k in _sorted_keys(val):
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
                fail(st, node, f"template {_go_quote(name)} not defined")
            if st.depth >= st.limits.max_depth:
                fail(st, node, f"exceeded maximum template depth ({st.limits.max_depth})")
            newdot = pipe(st, dot) if pipe is not None else MISSING
            saved_vars, saved_name = st.vars, st.tmpl_name
            st.vars = [["$", newdot]]
            st.tmpl_name = name
            st.depth += 1
            try:
                tmpl(st, newdot)
            except RecursionError:
                raise TemplateLimitError(
                    f"template: {saved_name}: template recursion too deep", "".join(st.out)
                ) from None
            st.depth -= 1
            st.vars, st.tmpl_name = saved_vars, saved_name

        return run

    # -- pipelines and commands -----------------------------------------------------
    def compile_pipeline(self, pipe: N.PipeNode) -> Ev:
        cmds = [self.compile_command(c) for c in pipe.cmds]
        decl = [d.ident[0] for d in pipe.decl]
        is_assign = pipe.is_assign
        last = _last_arg(pipe)
        if len(cmds) == 1 and not decl:
            c0 = cmds[0]

            def ev1(st: State, dot: Any) -> Any:
                v = c0(st, dot, _NOFINAL)
                return MISSING if v is None else v

            return ev1

        def ev(st: State, dot: Any) -> Any:
            v = _NOFINAL
            for c in cmds:
                v = c(st, dot, v)
                if v is None:
                    v = MISSING
            for name in decl:
                if is_assign:
                    _var_set(st, last, name, v)
                else:
                    st.vars.append([name, v])
            return v

        return ev

    def compile_command(self, cmd: N.CommandNode) -> Cmd:
        first = cmd.args[0]
        nargs = len(cmd.args)
        if isinstance(first, N.FieldNode):
            return self._field_command(first, first.ident, None, cmd.args[1:])
        if isinstance(first, N.ChainNode):
            recv = self.compile_arg(first.node)
            if isinstance(first.node, N.NilNode):

                def nil_chain(st: State, dot: Any, final: Any) -> Any:
                    fail(st, first, f"indirection through explicit nil in {first}")

                return nil_chain
            return self._field_command(first, first.field, recv, cmd.args[1:])
        if isinstance(first, N.VariableNode):
            vname = first.ident[0]
            if len(first.ident) == 1:

                def var_cmd(st: State, dot: Any, final: Any) -> Any:
                    v = _var_get(st, first, vname)
                    if nargs > 1 or final is not _NOFINAL:
                        fail(st, first, f"can't give argument to non-function {first}")
                    return v

                return var_cmd

            def var_recv(st: State, dot: Any) -> Any:
                return _var_get(st, first, vname)

            return self._field_command(first, first.ident[1:], var_recv, cmd.args[1:])
        if isinstance(first, N.IdentifierNode):
            return self._call_command(first, cmd, cmd.args[1:])
        if isinstance(first, N.PipeNode):
            inner = self.compile_pipeline(first)

            def pipe_cmd(st: State, dot: Any, final: Any) -> Any:
                if nargs > 1 or final is not _NOFINAL:
                    fail(st, cmd, f"can't give argument to non-function {first}")
                return inner(st, dot)

            return pipe_cmd
        if isinstance(first, N.NilNode):

            def nil_cmd(st: State, dot: Any, final: Any) -> Any:
                if nargs > 1 or final is not _NOFINAL:
                    fail(st, first, f"can't give argument to non-function {first}")
                fail(st, first, "nil is not a command")

            return nil_cmd
        lit = self.compile_arg(first)

        def lit_cmd(st: State, dot: Any, final: Any) -> Any:
            if nargs > 1 or final is not _NOFINAL:
                fail(st, first, f"can't give argument to non-function {first}")
            return lit(st, dot)

        return lit_cmd

    def compile_arg(self, node: N.Node) -> Ev:
        """Go's evalArg for an interface{} parameter."""
        if isinstance(node, N.DotNode):
            return _dot
        if isinstance(node, N.NilNode):
            return _nil
        if isinstance(node, N.FieldNode):
            return _no_final(self._field_command(node, node.ident, None, []))
        if isinstance(node, N.VariableNode):
            vname = node.ident[0]
            if len(node.ident) == 1:

                def var(st: State, dot: Any) -> Any:
                    return _var_get(st, node, vname)

                return var

            def var_recv(st: State, dot: Any) -> Any:
                return _var_get(st, node, vname)

            return _no_final(self._field_command(node, node.ident[1:], var_recv, []))
        if isinstance(node, N.PipeNode):
            return self.compile_pipeline(node)
        if isinstance(node, N.IdentifierNode):
            return _no_final(self._call_command(node, node, []))
        if isinstance(node, N.ChainNode):
            if isinstance(node.node, N.NilNode):

                def nil_chain(st: State, dot: Any) -> Any:
                    fail(st, node, f"indirection through explicit nil in {node}")

                return nil_chain
            recv = self.compile_arg(node.node)
            return _no_final(self._field_command(node, node.field, recv, []))
        if isinstance(node, N.BoolNode):
            b = node.true
            return lambda st, dot: b
        if isinstance(node, N.StringNode):
            s = node.text
            return lambda st, dot: s
        if isinstance(node, N.NumberNode):
            return self._number(node)
        raise TemplateError(f"can't handle {node} for arg")

    def _number(self, node: N.NumberNode) -> Ev:
        num = node.num
        text = node.text
        value: Any
        is_hex_int = (
            len(text) > 2
            and text[0] == "0"
            and text[1] in "xX"
            and not any(c in text for c in "pP")
        )
        if num.is_complex:
            value = num.complex128
        elif (
            num.is_float
            and not is_hex_int
            and not num.extra.get("rune")
            and any(c in text for c in ".eEpP")
        ):
            value = num.float64
        elif num.is_int:
            value = GoInt(num.int64)
        else:

            def overflow(st: State, dot: Any) -> Any:
                fail(st, node, f"{text} overflows int")

            return overflow
        return lambda st, dot: value

    # -- fields ---------------------------------------------------------------------
    def _field_command(
        self, node: N.Node, idents: list[str], recv: Ev | None, arg_nodes: list[N.Node]
    ) -> Cmd:
        """A field chain on dot (recv None) or on recv's value; the last may get args."""
        mode = self.missingkey
        idents_t = tuple(idents)
        step = self._field_step
        via_iface = False
        nargs = len(arg_nodes) + 1
        args = [self.compile_arg(a) for a in arg_nodes]
        last = idents_t[-1]

        if mode == "error":

            def on_missing(st: State, name: str) -> Any:
                fail(st, node, f"map has no entry for key {_go_quote(name)}")

        elif mode == "zero":

            def on_missing(st: State, name: str) -> Any:
                return None

        else:

            def on_missing(st: State, name: str) -> Any:
                return MISSING

        def cmd(st: State, dot: Any, final: Any) -> Any:
            v = dot if recv is None else recv(st, dot)
            if nargs > 1 or final is not _NOFINAL:
                for i, name in enumerate(idents_t[:-1]):
                    v = step(st, node, v, name, False, on_missing, i > 0 or via_iface)
                method = _method_of(v, last)
                if method is not None:
                    argv = [a(st, dot) for a in args]
                    if final is not _NOFINAL:
                        argv.append(final)
                    return _call_method(st, node, last, method, argv)
                return step(st, node, v, last, True, on_missing, len(idents_t) > 1 or via_iface)
            for i, name in enumerate(idents_t):
                if type(v) is dict:
                    r = v.get(name, _ABSENT)
                    v = on_missing(st, name) if r is _ABSENT else r
                else:
                    v = step(st, node, v, name, False, on_missing, i > 0 or via_iface)
            return v

        return cmd

    def _field_step(
        self,
        st: State,
        node: N.Node,
        v: Any,
        name: str,
        has_args: bool,
        on_missing: Callable[[State, str], Any],
        iface: bool = False,
    ) -> Any:
        if v is MISSING:
            if self.missingkey == "error":
                fail(st, node, f"nil data; no entry for key {_go_quote(name)}")
            return MISSING
        if v is None:
            fail(st, node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(v, dict):
            if has_args:
                fail(st, node, f"{name} is not a method but has arguments")
            r = v.get(name, _ABSENT)
            return on_missing(st, name) if r is _ABSENT else r
        if isinstance(v, GoStruct):
            if v.has_field(name):
                if has_args:
                    fail(st, node, f"{name} has arguments but cannot be invoked as function")
                return v.field(name)
            fail(st, node, f"can't evaluate field {name} in type {v.go_type_name}")
        typ = "interface {}" if iface else B.type_name(v)
        fail(st, node, f"can't evaluate field {name} in type {typ}")

    # -- function calls -------------------------------------------------------------
    def _call_command(self, ident: N.IdentifierNode, cmd: N.Node, arg_nodes: list[N.Node]) -> Cmd:
        name = ident.ident
        args = [self.compile_arg(a) for a in arg_nodes]
        nargs = len(args)
        if name in ("and", "or") and name not in self.funcs:
            want_or = name == "or"

            def andor(st: State, dot: Any, final: Any) -> Any:
                if nargs + (final is not _NOFINAL) < 1:
                    fail(st, cmd, f"wrong number of args for {name}: want at least 1 got 0")
                v: Any = MISSING
                for a in args:
                    v = a(st, dot)
                    if is_true(v) == want_or:
                        return v
                if final is not _NOFINAL:
                    v = final
                return v

            return andor
        builtin = name not in self.funcs
        fn: Callable[..., Any] = B.BUILTINS[name] if builtin else self.funcs[name]
        needs_ctx = bool(getattr(fn, "needs_context", False))
        if builtin:
            fixed, variadic = B.ARITY[name]
            lo, hi = fixed, (None if variadic else fixed)
        else:
            lo, hi = _arity(fn)
        is_printf = builtin and name == "printf"
        is_call = builtin and name == "call"
        go_params = getattr(fn, "go_params", None)
        fmt_node = arg_nodes[0] if (is_printf and arg_nodes) else cmd

        def call(st: State, dot: Any, final: Any) -> Any:
            n = nargs + (final is not _NOFINAL)
            if n < lo or (hi is not None and n > hi):
                if hi is None:
                    msg = f"wrong number of args for {name}: want at least {lo} got {nargs}"
                else:
                    msg = f"wrong number of args for {name}: want {hi} got {n}"
                fail(st, ident, msg)
            argv = [a(st, dot) for a in args]
            if final is not _NOFINAL:
                argv.append(final)
            if builtin:
                if is_printf and not isinstance(argv[0], str):
                    if argv[0] is MISSING:
                        fail(st, fmt_node, "invalid value; expected string")
                    fail(
                        st,
                        fmt_node,
                        f"wrong type for value; expected string; got {B.type_name(argv[0])}",
                    )
                try:
                    if is_call:
                        callee = str(arg_nodes[0]) if arg_nodes else f"<{B.type_name(final)} Value>"
                        result = fn(*argv, callee=callee)
                    else:
                        result = fn(*argv)
                    if type(result) is str and len(result) > st.limits.max_output:
                        _too_big(st, name)
                    return result
                except BuiltinError as exc:
                    fail(st, cmd, f"error calling {name}: {exc}")
                except RecursionError:
                    raise
                except TemplateError:
                    raise
                except Exception as exc:
                    fail(st, cmd, f"error calling {name}: {exc}")
            argv = [None if a is MISSING else a for a in argv]
            try:
                result = fn(_Context(self, st), *argv) if needs_ctx else fn(*argv)
            except FunctionError as exc:
                culprit = _culprit(str(exc), argv, go_params)
                if culprit is not None and culprit < len(arg_nodes):
                    # Go checks argument types before the call, at the argument
                    fail(st, arg_nodes[culprit], str(exc))
                fail(st, cmd, f"error calling {name}: {exc}")
            except (TemplateExecError, TemplateLimitError):
                raise
            except RecursionError:
                raise TemplateLimitError(
                    f"template: {st.tmpl_name}: recursion too deep in {name}", "".join(st.out)
                ) from None
            except Exception as exc:
                fail(st, cmd, f"error calling {name}: {exc}")
            if isinstance(result, str | bytes | list | dict) and len(result) > st.limits.max_output:
                _too_big(st, name)
            return result

        return call


class _Context:
    """The TemplateContext handed to ``needs_context`` functions."""

    def __init__(self, compiler: Compiler, st: State) -> None:
        self.compiler = compiler
        self.st = st

    @property
    def root_data(self) -> Any:
        """The data the render started with (``$`` of the root template), nil as None."""
        root = self.st.root
        return None if root is MISSING else root

    def execute_template(self, name: str, data: Any) -> str:
        tmpl = self.compiler.templates.get(name)
        if tmpl is None:
            raise FunctionError(f"template {_go_quote(name)} not defined")
        st = self.st
        if st.depth >= st.limits.max_depth:
            raise TemplateLimitError(
                f"template: {st.tmpl_name}: exceeded maximum template depth "
                f"({st.limits.max_depth})",
                "".join(st.out),
            )
        sub = State(name, MISSING if data is None else data, st.limits)
        sub.depth = st.depth + 1
        sub.iters = st.iters
        sub.size = st.size
        sub.root = st.root
        tmpl(sub, sub.vars[0][1])
        st.iters = sub.iters
        return "".join(sub.out)

    def render_text(self, text: str, data: Any) -> str:
        from shared.templating.engine import parse_into

        name = self.st.tmpl_name
        run = parse_into(self.compiler, name, text)
        st = self.st
        sub = State(name, MISSING if data is None else data, st.limits)
        sub.depth = st.depth + 1
        sub.iters = st.iters
        sub.size = st.size
        sub.root = st.root
        run(sub, sub.vars[0][1])
        st.iters = sub.iters
        return "".join(sub.out)


def _culprit(msg: str, argv: list[Any], params: Any) -> int | None:
    """Which argument a Go-style type error (``wrong type for value ...``) is about."""
    if not isinstance(params, tuple | list) or not params:
        return None
    if msg.startswith("wrong type for value; expected "):
        want, _, got = msg[len("wrong type for value; expected ") :].partition("; got ")
    elif msg.startswith("invalid value; expected "):
        want, got = msg[len("invalid value; expected ") :], "<nil>"
    else:
        return None
    for i, arg in enumerate(argv):
        if i < len(params) and not str(params[i]).startswith("..."):
            param = str(params[i])
        elif str(params[-1]).startswith("..."):
            param = str(params[-1])[3:]
        else:
            return None
        if param == want and B.type_name(arg) == got:
            return i
    return None


def _too_big(st: State, name: str) -> NoReturn:
    raise TemplateLimitError(
        f"template: {st.tmpl_name}: the result of {name} exceeds the limit of "
        f"{st.limits.max_output} characters",
        "".join(st.out),
    )


def _method_of(v: Any, name: str) -> Callable[..., Any] | None:
    """A Go method (with arguments) of a value that declares ``go_methods()``."""
    methods = getattr(v, "go_methods", None)
    if methods is None or not callable(methods):
        return None
    found = methods().get(name)
    return found if callable(found) else None


def _call_method(
    st: State, node: N.Node, name: str, method: Callable[..., Any], argv: list[Any]
) -> Any:
    lo, hi = _arity(method, cache=False)
    if len(argv) < lo or (hi is not None and len(argv) > hi):
        fail(st, node, f"wrong number of args for {name}: want {lo} got {len(argv)}")
    try:
        return method(*[None if a is MISSING else a for a in argv])
    except FunctionError as exc:
        fail(st, node, f"error calling {name}: {exc}")
    except (TemplateExecError, TemplateLimitError):
        raise
    except Exception as exc:
        fail(st, node, f"error calling {name}: {exc}")


def _noop(st: State, dot: Any) -> None:
    return None


def _dot(st: State, dot: Any) -> Any:
    return dot


def _nil(st: State, dot: Any) -> Any:
    return None


def _no_final(cmd: Cmd) -> Ev:
    def ev(st: State, dot: Any) -> Any:
        return cmd(st, dot, _NOFINAL)

    return ev


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


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


def _last_arg(pipe: N.PipeNode) -> N.Node:
    if pipe.cmds and pipe.cmds[-1].args:
        return pipe.cmds[-1].args[-1]
    return pipe
