"""``ripple lint``: a trigger's ``helmCharts`` entries checked as the agents will read them.

An entry without templates is validated with :class:`shared.helm.spec.HelmChart`, the model
the agent installs from (release name rules, required fields, the chart source, options,
``values`` as YAML): a problem is an error (the agent would fail that release, in the
profile's status). The options Ripple ignores (``wait``, ``atomic``...) are warnings
"accepted, not supported by Ripple". A Flux source (``gitrepository://``...) is a warning
too, like a Flux source in ``policyRefs``: the release fails, the rest of the trigger works.
An entry with templates is checked after rendering, by the manager and the agent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.scenario.charts import PLACEHOLDERS
from shared.api.support import ACCEPTED_NOT_SUPPORTED, FLUX_SOURCES
from shared.checks import Problem

_IGNORED = re.compile(r"^options\.(?P<name>\S+) is ignored: (?P<why>.*)$")
_FLUX_SCHEMES = tuple(f"{kind.lower()}://" for kind in FLUX_SOURCES)


def _templated(value: Any) -> bool:
    """A template, or a scenario's chart placeholder (``${CHARTS_URL}``, substituted by the
    scenario runner before the definition is applied): not checkable as written."""
    if isinstance(value, str):
        return "{{" in value or any(p in value for p in PLACEHOLDERS)
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def helm_problems(trigger: Mapping[str, Any]) -> list[Problem]:
    """The problems of each ``helmCharts`` entry of ``trigger`` (a dict as written)."""
    from shared.helm.errors import InvalidHelmChart
    from shared.helm.spec import HelmChart

    spec = trigger.get("spec")
    charts = spec.get("helmCharts") if isinstance(spec, Mapping) else None
    problems: list[Problem] = []
    for index, entry in enumerate(charts if isinstance(charts, list) else []):
        if not isinstance(entry, Mapping):
            continue
        path: tuple[str | int, ...] = ("spec", "helmCharts", index)
        url = entry.get("repositoryURL")
        if isinstance(url, str) and url.lower().startswith(_FLUX_SCHEMES):
            problems.append(
                Problem(
                    (*path, "repositoryURL"),
                    f"{ACCEPTED_NOT_SUPPORTED}: Flux sources are not fetched; this release "
                    "fails in the profile's status",
                    "warning",
                )
            )
            continue
        if _templated({k: v for k, v in entry.items() if k != "values"}):
            continue
        try:
            chart = HelmChart.parse(entry, where="")
        except InvalidHelmChart as exc:
            message = str(exc).removeprefix(": ")
            first = message.split(" ", 1)[0].rstrip(":")
            where = (*path, first) if first in entry else path
            problems.append(Problem(where, message.removeprefix(f"{first}: ")))
            continue
        for warning in chart.effective().warnings:
            m = _IGNORED.match(warning)
            if m:
                where = (*path, "options", *m.group("name").split("."))
                problems.append(
                    Problem(where, f"{ACCEPTED_NOT_SUPPORTED}: {m.group('why')}", "warning")
                )
        if not _templated(entry.get("values")):
            try:
                chart.values_dict()
            except Exception as exc:  # HelmTerminal: values that are not a YAML mapping
                reason = str(exc).split(": values ", 1)[-1]
                problems.append(Problem((*path, "values"), f"values {reason}"))
    return problems
