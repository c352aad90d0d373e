"""Helm charts of a scenario: its ``charts/`` folder, served over loopback HTTP for the life
of a stack, and the placeholders that point definitions at them.

``charts/`` (optional) holds one entry per chart:

- a chart directory (with ``Chart.yaml``), packaged when the stack starts;
- a packaged chart ``<name>-<version>.tgz``, served as it is;
- a symbolic link to either (followed), or a small file holding the relative path of one
  (what git checks out for a symbolic link where links are off).

:class:`StackCharts` (a mixin of :class:`~services.scenario.stack.Stack`) serves them with
:class:`shared.helm.repository.ChartRepository`: ``stack.charts_url`` is the repository
(``http://127.0.0.1:<port>``, an ``index.yaml``), ``stack.charts_oci_url`` the same charts
as an OCI registry (``oci://127.0.0.1:<port>/charts``). In management definitions (the files
of ``management/`` and of ``manage`` steps) every string containing ``${CHARTS_URL}`` or
``${CHARTS_OCI_URL}`` gets that URL before it is applied; :func:`check_placeholders` makes a
scenario without charts that uses one an error at load time.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.scenario.errors import ScenarioError, StackError

if TYPE_CHECKING:
    from shared.helm.repository import ChartRepository

log = logging.getLogger(__name__)

CHARTS_URL = "${CHARTS_URL}"
CHARTS_OCI_URL = "${CHARTS_OCI_URL}"
PLACEHOLDERS = (CHARTS_URL, CHARTS_OCI_URL)
_LINK_MAX = 4096


# -- pure: entries and placeholders -----------------------------------------------------------
def _linked(entry: Path) -> Path | None:
    """The target of a file holding a relative path (a symbolic link checked out as a file)."""
    try:
        if entry.stat().st_size > _LINK_MAX:
            return None
        text = entry.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text or "\n" in text:
        return None
    target = (entry.parent / text).resolve()
    return target if target.is_dir() or (target.suffix == ".tgz" and target.is_file()) else None


def chart_entries(charts_dir: Path | None) -> list[Path]:
    """The charts of a ``charts/`` folder, resolved (directories and ``.tgz`` files), sorted by
    entry name; empty when the folder does not exist. :class:`ScenarioError` names an entry
    that is none of those of the module doc."""
    if charts_dir is None or not charts_dir.is_dir():
        return []
    out = []
    for entry in sorted(charts_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        target = entry.resolve()
        if target.is_file() and target.suffix != ".tgz":
            target = _linked(entry) or target
        if target.is_dir():
            if not (target / "Chart.yaml").is_file():
                raise ScenarioError(f"{entry}: a chart directory needs a Chart.yaml")
        elif not (target.is_file() and target.suffix == ".tgz"):
            what = "a broken link" if entry.is_symlink() else "neither a chart directory"
            raise ScenarioError(
                f"{entry}: {what} nor a packaged chart (.tgz) nor a link to one (charts/ holds "
                "one entry per chart)"
            )
        out.append(target)
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def placeholders_in(obj: Any) -> list[str]:
    """The placeholders (:data:`PLACEHOLDERS`) some string of ``obj`` contains."""
    found = {p for s in _strings(obj) for p in PLACEHOLDERS if p in s}
    return [p for p in PLACEHOLDERS if p in found]


def substitute(value: Any, urls: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose strings have each placeholder of ``urls`` replaced."""
    if isinstance(value, str):
        for placeholder, url in urls.items():
            value = value.replace(placeholder, url)
        return value
    if isinstance(value, Mapping):
        return {substitute(k, urls): substitute(v, urls) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(item, urls) for item in value]
    return value


def check_placeholders(
    files: Mapping[str, list[dict[str, Any]]], charts: list[Path], charts_dir: Path
) -> None:
    """:class:`ScenarioError` when a definition file (name -> its objects) uses a
    placeholder and the scenario serves no chart."""
    if charts:
        return
    for name, objects in files.items():
        for obj in objects:
            used = placeholders_in(obj)
            if used:
                meta = obj.get("metadata") or {}
                raise ScenarioError(
                    f"{name}: {obj.get('kind')} {meta.get('name')} uses {used[0]}, but the "
                    f"scenario serves no chart ({charts_dir} is missing or empty)"
                )


# -- the chart server of a stack --------------------------------------------------------------
class StackCharts:
    """Mixin of :class:`~services.scenario.stack.Stack` (see the module doc)."""

    charts_dir: Path | None
    charts: ChartRepository | None

    @property
    def charts_url(self) -> str | None:
        """The chart repository (``None`` when the stack serves no chart)."""
        return self.charts.url if self.charts is not None else None

    @property
    def charts_oci_url(self) -> str | None:
        """The same charts as an OCI registry (``None`` when the stack serves no chart)."""
        return self.charts.oci_url if self.charts is not None else None

    def _start_charts(self) -> None:
        entries = chart_entries(self.charts_dir)
        if not entries:
            return
        from shared.helm.repository import ChartRepository

        directories = [p for p in entries if p.is_dir()]
        repo = ChartRepository(directories)
        for archive in (p for p in entries if not p.is_dir()):
            shutil.copy2(archive, repo.directory / archive.name)  # indexed at start
        try:
            self.charts = repo.start()
        except Exception as err:
            repo.stop()
            raise StackError(f"cannot serve the charts of {self.charts_dir}: {err}") from err
        log.info("charts of %s served at %s", self.charts_dir, self.charts.url)

    def _stop_charts(self) -> None:
        charts, self.charts = self.charts, None
        if charts is not None:
            charts.stop()

    def with_charts_url(
        self, objects: list[dict[str, Any]], sources: dict[int, str] | None = None
    ) -> tuple[list[dict[str, Any]], dict[int, str] | None]:
        """``objects`` with the placeholders replaced (``sources``, ``id(obj)`` -> file, kept
        for the copies); :class:`StackError` when one is used and no chart is served."""
        out: list[dict[str, Any]] = []
        for obj in objects:
            used = placeholders_in(obj)
            if not used:
                out.append(obj)
                continue
            if self.charts is None:
                source = (sources or {}).get(id(obj), "a definition")
                raise StackError(f"{source}: uses {used[0]}, but the stack serves no chart")
            urls = {CHARTS_URL: self.charts.url, CHARTS_OCI_URL: self.charts.oci_url}
            copy = substitute(obj, urls)
            if sources is not None and id(obj) in sources:
                sources[id(copy)] = sources[id(obj)]
            out.append(copy)
        return out, sources
