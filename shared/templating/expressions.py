"""Expression compiler of the Go template executor: pipelines, commands, arguments,
field chains and function calls (Go's ``evalPipeline``/``evalCommand``/``evalCall``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.templating import builtins as B
from shared.templating import nodes as N
from shared.templating.budget import BudgetExceeded, result_size, traverses
from shared.templating.builtins import MISSING, BuiltinError, is_true
from shared.templating.errors import (
    FunctionError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
)
from shared.templating.gofmt import go_quote
from shared.templating.runtime import (
    ABSENT,
    NOFINAL,
    Cmd,
    Ev,
    Run,
    State,
    arity,
    call_method,
    culprit,
    dot_value,
    fail,
    last_arg,
    limit_fail,
    method_of,
    nil_value,
    no_final,
    over_time,
    too_big,
    var_get,
    var_set,
)
from shared.templating.values import GoInt, GoStruct

__all__ = ["ExpressionCompiler"]

_now = time.monotonic

#: builtins that print their arguments whole (``{{ print $x }}``): deep values are measured
_PRINTING = frozenset({"print", "printf", "println", "html", "js", "urlquery"})


def _charge(st: State, node: N.Node, name: str, size: int) -> None:
    """Charge the value a function built to the render's memory budget."""
    budget = st.budget
    budget.allocated += size
    if budget.allocated > budget.max_memory:
        try:
            budget.charge(0, name)
        except TemplateLimitError as exc:
            limit_fail(st, node, exc)


class ExpressionCompiler:
    """Compiles pipelines and their operands into closures ``ev(st, dot)``."""

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

    def compile_source(self, name: str, text: str) -> Run:
        """Parse and compile ``text`` against this set (sprig ``tpl``): statements are the
        executor's, so :class:`~shared.templating.executor.Compiler` implements it."""
        raise NotImplementedError

    def compile_pipeline(self, pipe: N.PipeNode) -> Ev:
        cmds = [self.compile_command(c) for c in pipe.cmds]
        decl = [d.ident[0] for d in pipe.decl]
        is_assign = pipe.is_assign
        last = last_arg(pipe)
        if len(cmds) == 1 and not decl:
            c0 = cmds[0]

            def ev1(st: State, dot: Any) -> Any:
                v = c0(st, dot, NOFINAL)
                return MISSING if v is None else v

            return ev1

        def ev(st: State, dot: Any) -> Any:
            v = NOFINAL
            for c in cmds:
                v = c(st, dot, v)
                if v is None:
                    v = MISSING
            for name in decl:
                if is_assign:
                    var_set(st, last, name, v)
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
                    v = var_get(st, first, vname)
                    if nargs > 1 or final is not NOFINAL:
                        fail(st, first, f"can't give argument to non-function {first}")
                    return v

                return var_cmd

            def var_recv(st: State, dot: Any) -> Any:
                return var_get(st, first, vname)

            return self._field_command(first, first.ident[1:], var_recv, cmd.args[1:])
        if isinstance(first, N.IdentifierNode):
            return self._call_command(first, cmd, cmd.args[1:])
        if isinstance(first, N.PipeNode):
            inner = self.compile_pipeline(first)

            def pipe_cmd(st: State, dot: Any, final: Any) -> Any:
                if nargs > 1 or final is not NOFINAL:
                    fail(st, cmd, f"can't give argument to non-function {first}")
                return inner(st, dot)

            return pipe_cmd
        if isinstance(first, N.NilNode):

            def nil_cmd(st: State, dot: Any, final: Any) -> Any:
                if nargs > 1 or final is not NOFINAL:
                    fail(st, first, f"can't give argument to non-function {first}")
                fail(st, first, "nil is not a command")

            return nil_cmd
        lit = self.compile_arg(first)

        def lit_cmd(st: State, dot: Any, final: Any) -> Any:
            if nargs > 1 or final is not NOFINAL:
                fail(st, first, f"can't give argument to non-function {first}")
            return lit(st, dot)

        return lit_cmd

    def compile_arg(self, node: N.Node) -> Ev:
        """Go's evalArg for an interface{} parameter."""
        if isinstance(node, N.DotNode):
            return dot_value
        if isinstance(node, N.NilNode):
            return nil_value
        if isinstance(node, N.FieldNode):
            return no_final(self._field_command(node, node.ident, None, []))
        if isinstance(node, N.VariableNode):
            vname = node.ident[0]
            if len(node.ident) == 1:

                def var(st: State, dot: Any) -> Any:
                    return var_get(st, node, vname)

                return var

            def var_recv(st: State, dot: Any) -> Any:
                return var_get(st, node, vname)

            return no_final(self._field_command(node, node.ident[1:], var_recv, []))
        if isinstance(node, N.PipeNode):
            return self.compile_pipeline(node)
        if isinstance(node, N.IdentifierNode):
            return no_final(self._call_command(node, node, []))
        if isinstance(node, N.ChainNode):
            if isinstance(node.node, N.NilNode):

                def nil_chain(st: State, dot: Any) -> Any:
                    fail(st, node, f"indirection through explicit nil in {node}")

                return nil_chain
            recv = self.compile_arg(node.node)
            return no_final(self._field_command(node, node.field, recv, []))
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
                fail(st, node, f"map has no entry for key {go_quote(name)}")

        elif mode == "zero":

            def on_missing(st: State, name: str) -> Any:
                return None

        else:

            def on_missing(st: State, name: str) -> Any:
                return MISSING

        def cmd(st: State, dot: Any, final: Any) -> Any:
            v = dot if recv is None else recv(st, dot)
            if nargs > 1 or final is not NOFINAL:
                for i, name in enumerate(idents_t[:-1]):
                    v = step(st, node, v, name, False, on_missing, i > 0 or via_iface)
                method = method_of(v, last)
                if method is not None:
                    argv = [a(st, dot) for a in args]
                    if final is not NOFINAL:
                        argv.append(final)
                    return call_method(st, node, last, method, argv)
                return step(st, node, v, last, True, on_missing, len(idents_t) > 1 or via_iface)
            for i, name in enumerate(idents_t):
                if type(v) is dict:
                    r = v.get(name, ABSENT)
                    v = on_missing(st, name) if r is ABSENT else r
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
                fail(st, node, f"nil data; no entry for key {go_quote(name)}")
            return MISSING
        if v is None:
            fail(st, node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(v, dict):
            if has_args:
                fail(st, node, f"{name} is not a method but has arguments")
            r = v.get(name, ABSENT)
            return on_missing(st, name) if r is ABSENT else r
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
                if nargs + (final is not NOFINAL) < 1:
                    fail(st, cmd, f"wrong number of args for {name}: want at least 1 got 0")
                v: Any = MISSING
                for a in args:
                    v = a(st, dot)
                    if is_true(v) == want_or:
                        return v
                if final is not NOFINAL:
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
            lo, hi = arity(fn)
        is_printf = builtin and name == "printf"
        is_call = builtin and name == "call"
        go_params = getattr(fn, "go_params", None)
        fmt_node = arg_nodes[0] if (is_printf and arg_nodes) else cmd
        # costly or deep functions are checked against the budget before they run
        guarded = (
            name in _PRINTING
            if builtin
            else bool(getattr(fn, "ripple_cost", None) or getattr(fn, "ripple_traverses", False))
        )
        if builtin and guarded:
            fn_checked: Callable[..., Any] = traverses(lambda *a: None)
        else:
            fn_checked = fn

        def call(st: State, dot: Any, final: Any) -> Any:
            n = nargs + (final is not NOFINAL)
            if n < lo or (hi is not None and n > hi):
                if hi is None:
                    msg = f"wrong number of args for {name}: want at least {lo} got {nargs}"
                else:
                    msg = f"wrong number of args for {name}: want {hi} got {n}"
                fail(st, ident, msg)
            argv = [a(st, dot) for a in args]
            if final is not NOFINAL:
                argv.append(final)
            budget = st.budget
            if _now() > budget.deadline:
                over_time(st, cmd, name)
            if guarded:
                try:
                    budget.before(fn_checked, name, argv)
                except TemplateLimitError as exc:
                    limit_fail(st, cmd, exc)
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
                except BuiltinError as exc:
                    fail(st, cmd, f"error calling {name}: {exc}")
                except RecursionError:
                    raise
                except BudgetExceeded as exc:
                    limit_fail(st, cmd, exc)
                except TemplateError:
                    raise
                except Exception as exc:
                    fail(st, cmd, f"error calling {name}: {exc}")
                if type(result) is str:
                    if len(result) > st.limits.max_output:
                        too_big(st, name)
                    _charge(st, cmd, name, len(result))
                return result
            argv = [None if a is MISSING else a for a in argv]
            try:
                result = fn(_Context(self, st), *argv) if needs_ctx else fn(*argv)
            except FunctionError as exc:
                bad_arg = culprit(str(exc), argv, go_params)
                if bad_arg is not None and bad_arg < len(arg_nodes):
                    # Go checks argument types before the call, at the argument
                    fail(st, arg_nodes[bad_arg], str(exc))
                fail(st, cmd, f"error calling {name}: {exc}")
            except TemplateExecError:
                raise
            except BudgetExceeded as exc:  # raised by the function: located here
                limit_fail(st, cmd, exc)
            except TemplateLimitError:
                raise  # located already (a nested template)
            except RecursionError:
                raise TemplateLimitError(
                    f"template: {st.tmpl_name}: recursion too deep in {name}",
                    "".join(st.out),
                    kind="depth",
                ) from None
            except MemoryError:
                raise TemplateLimitError(
                    f"template: {st.tmpl_name}: out of memory in {name}",
                    "".join(st.out),
                    kind="memory",
                ) from None
            except Exception as exc:
                fail(st, cmd, f"error calling {name}: {exc}")
            if isinstance(result, str | bytes | list | dict):
                if len(result) > st.limits.max_output:
                    too_big(st, name)
                _charge(st, cmd, name, result_size(result))
            return result

        return call


class _Context:
    """The TemplateContext handed to ``needs_context`` functions."""

    def __init__(self, compiler: ExpressionCompiler, st: State) -> None:
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
            raise FunctionError(f"template {go_quote(name)} not defined")
        st = self.st
        if st.depth >= st.limits.max_depth:
            raise TemplateLimitError(
                f"template: {st.tmpl_name}: exceeded maximum template depth "
                f"({st.limits.max_depth})",
                "".join(st.out),
                kind="depth",
            )
        sub = State(name, MISSING if data is None else data, st.limits, st.budget)
        sub.depth = st.depth + 1
        sub.iters = st.iters
        st.check()
        sub.size = st.size
        sub.root = st.root
        tmpl(sub, sub.vars[0][1])
        st.iters = sub.iters
        return sub.output()

    def render_text(self, text: str, data: Any) -> str:
        name = self.st.tmpl_name
        run = self.compiler.compile_source(name, text)
        st = self.st
        sub = State(name, MISSING if data is None else data, st.limits, st.budget)
        sub.depth = st.depth + 1
        sub.iters = st.iters
        st.check()
        sub.size = st.size
        sub.root = st.root
        run(sub, sub.vars[0][1])
        st.iters = sub.iters
        return sub.output()
