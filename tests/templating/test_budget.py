"""Per-render budgets (issue 16, item 2): time and memory charged by the engine and the costly
functions, values sized before they are built, Jinja arithmetic bounded. Each hostile template
stops quickly with a TemplateLimitError that names the bound, and is counted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.templating import (
    Limits,
    TemplateLimitError,
    budget_refusals,
    render_event_template,
)
from shared.templating.budget import expanded_size

FAST = Limits(max_seconds=0.2)


def refused(text: str, flavour: str = "go", limits: Limits = FAST) -> tuple[str, str, float]:
    """(kind, message, seconds) of a render that must be refused."""
    started = time.perf_counter()
    with pytest.raises(TemplateLimitError) as info:
        render_event_template(text, {}, flavour=flavour, name="hostile", limits=limits)
    return info.value.kind, str(info.value), time.perf_counter() - started


# -- time ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        'derivePassword 1 "long" "pw" "user" "site"',
        'bcrypt "x"',
        'htpasswd "user" "x"',
        '(genCA "ca" 3).Cert',
    ],
)
def test_a_loop_of_costly_calls_stops_at_the_time_budget(call: str) -> None:
    kind, message, seconds = refused(f"{{{{ range until 300 }}}}{{{{ {call} }}}}{{{{ end }}}}")
    assert kind == "time"
    # the same message whenever it runs out of time (a status showing it stays as it is)
    function = call.split()[0].strip("(")
    assert message == (
        "template: hostile: render time budget exceeded: the limit is 0.2 s "
        f"(costly calls: {function})"
    )
    assert seconds < 5.0  # the budget and at most one call past it


def test_jinja_calls_and_loops_stop_at_the_time_budget() -> None:
    kind, message, seconds = refused(
        '{% for i in range(300) %}{{ bcrypt("x") }}{% endfor %}', "jinja"
    )
    assert message == (
        "jinja template hostile: render time budget exceeded: the limit is 0.2 s "
        "(costly calls: bcrypt)"
    )
    assert kind == "time" and seconds < 5.0
    macro = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    assert refused(macro, "jinja")[0] == "time"


def test_one_costly_call_within_the_budget_renders() -> None:
    out = render_event_template('{{ bcrypt "x" | len }}', {}, limits=Limits(max_seconds=5))
    assert out == "60"


# -- memory ------------------------------------------------------------------------------------
def test_values_built_are_charged_to_the_memory_budget() -> None:
    text = (
        '{{ $s := repeat 500000 "ab" }}{{ $l := list }}{{ range until 1000 }}'
        '{{ $l = append $l (printf "%s%d" $s .) }}{{ end }}'
    )
    kind, message, _ = refused(text, limits=Limits(max_seconds=5))
    assert (
        kind == "memory"
        and "render memory budget exceeded: " in message
        and "the limit is 64.0 MiB" in message
    )
    assert "printf" in message


def test_a_costly_call_needing_more_memory_than_the_budget_is_refused() -> None:
    kind, message, _ = refused(
        '{{ derivePassword 1 "long" "pw" "u" "s" }}', limits=Limits(max_memory=1 << 20)
    )
    assert kind == "memory" and "derivePassword needs 64.0 MiB of working memory: over" in message


# -- values sized before they are built ----------------------------------------------------------
DAG = (
    "{{ $a := list 1 2 3 4 5 6 7 8 9 10 }}{{ range until 9 }}"
    "{{ $a = list $a $a $a $a $a $a $a $a $a $a }}{{ end }}"
)


@pytest.mark.parametrize("use", ["{{ toJson $a }}", "{{ $a }}", '{{ printf "%v" $a }}'])
def test_a_value_repeating_a_list_by_reference_is_measured_first(use: str) -> None:
    kind, message, seconds = refused(DAG + use)
    assert kind == "size" and "expands to more than 1048576 characters" in message
    assert seconds < 2.0


@pytest.mark.parametrize(
    "text",
    [
        '{{ $s := repeat 50000 "ab" }}{{ regexReplaceAll "" $s $s }}',
        '{{ $s := repeat 50000 "ab" }}{{ replace "" $s $s }}',
        '{{ $s := repeat 400000 "a\\n" }}{{ indent 100 $s }}',
        '{{ $s := repeat 400000 "ab" }}{{ wrapWith 1 "----" $s }}',
        '{{ $s := repeat 500000 "ab" }}{{ printf (repeat 1000 "%[1]s") $s }}',
        '{{ printf "%*d" 100000000 1 }}',
        '{{ join (repeat 1000000 "x") (until 1000) }}',
    ],
)
def test_results_much_larger_than_their_arguments_are_refused_before_built(text: str) -> None:
    kind, message, seconds = refused(text)
    assert kind == "size" and "the result would be" in message
    assert seconds < 2.0


def test_ranges_are_bounded_before_they_are_built() -> None:
    started = time.perf_counter()
    for text in ("{{ seq 100000000 }}", "{{ until 100000000 }}", "{{ untilStep 0 1e9 1 }}"):
        with pytest.raises(Exception, match="range too large"):
            render_event_template(text, {}, name="r")
    assert time.perf_counter() - started < 2.0


def test_uniq_is_linear_and_keeps_deep_equality() -> None:
    started = time.perf_counter()
    out = render_event_template("{{ until 20000 | uniq | len }}", {}, name="u")
    assert out == "20000" and time.perf_counter() - started < 5.0  # quadratic: minutes
    same = render_event_template(
        '{{ list (dict "a" 1) (dict "a" 1) (list 1) (list 1) 1 "1" | uniq | len }}', {}
    )
    assert same == "4"


def test_expanded_size_visits_each_shared_part_once() -> None:
    a: Any = list(range(10))
    for _ in range(30):
        a = [a] * 10  # 10**31 leaves when printed
    started = time.perf_counter()
    assert expanded_size(a, 1 << 20) > 1 << 20
    assert time.perf_counter() - started < 0.5
    loop: list[Any] = []
    loop.append(loop)
    assert expanded_size(loop, 100) > 100
    assert expanded_size({"k": ["ab", 1]}, 100) == 10  # map, key, list, "ab", 1


# -- Jinja arithmetic and growth ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{{ (10 ** 30000000) % 7 }}", "arithmetic"),
        ("{{ (2 ** 4000) * (2 ** 4000) }}", "arithmetic"),
        ('{{ ("x" * 1000) * 1000000 }}', "arithmetic"),
        ('{% set ns = namespace(s="ab") %}{% for i in range(40) %}'
         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "arithmetic"),
        ("{% set ns = namespace(s=[1]) %}{% for i in range(40) %}"
         "{% set ns.s = ns.s + ns.s %}{% endfor %}", "arithmetic"),
        ('{{ "%0100000000d" % 1 }}', "arithmetic"),
        ('{{ "{:>100000000}".format(1) }}', "arithmetic"),
        ('{{ "x".center(100000000) }}', "arithmetic"),
        ('{{ "x"|center(100000000) }}', "arithmetic"),
        ('{{ [1]|batch(100000000, "x")|list }}', "arithmetic"),
        ('{{ ("x" * 100000)|replace("", "yyyyyyyyyy") }}', "arithmetic"),
        ('{{ range(100000)|join("x" * 1000000) }}', "arithmetic"),
        ("{% set ns = namespace(a=[1,2,3,4,5,6,7,8,9,10]) %}{% for i in range(9) %}"
         "{% set ns.a = [ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a] %}{% endfor %}"
         "{{ ns.a|tojson }}", "size"),
        ("{% set ns = namespace(a=[1,2,3,4,5,6,7,8,9,10], b=[1,2,3,4,5,6,7,8,9,10]) %}"
         "{% for i in range(9) %}{% set ns.a = [ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a,ns.a] %}"
         "{% set ns.b = [ns.b,ns.b,ns.b,ns.b,ns.b,ns.b,ns.b,ns.b] %}{% endfor %}"
         "{{ ns.a == ns.b }}", "size"),
    ],
)  # fmt: skip
def test_jinja_growth_is_refused_before_python_computes_it(text: str, kind: str) -> None:
    got, message, seconds = refused(text, "jinja")
    assert got == kind, message
    assert message.startswith("jinja template hostile")
    assert seconds < 2.0


def test_jinja_arithmetic_and_comparisons_still_work() -> None:
    text = (
        "{{ 2 ** 64 }} {{ 6 * 7 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' ~ 1 }} "
        "{{ '%05d' % 42 }} {{ '{:>4}'.format(7) }} {{ 1 < 2 < 3 }} {{ 'a' in 'abc' }} "
        "{{ 3 not in [1, 2] }} {{ 'x'|center(5) }}"
    )
    out = render_event_template(text, {}, flavour="jinja")
    assert out == ("18446744073709551616 42 ababab [1, 2] a1 00042    7 True True True   x  ")


def test_refusals_are_counted_per_bound() -> None:
    before = budget_refusals()
    refused("{{ (10 ** 30000000) % 7 }}", "jinja")
    refused(DAG + "{{ toJson $a }}")
    after = budget_refusals()
    assert after.get("arithmetic", 0) == before.get("arithmetic", 0) + 1
    assert after.get("size", 0) == before.get("size", 0) + 1
