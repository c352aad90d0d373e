"""A Sveltos ``helmCharts`` entry once instantiated, and what Ripple does with its options.

:class:`HelmChart` reads the entry the way Sveltos' addon-controller API declares it (camelCase
names, unknown fields kept), with the checks the CRD and Helm would make, as clear errors
(:class:`~shared.helm.errors.InvalidHelmChart`). Templates are instantiated before this
model sees the entry (``shared.api.addons.HelmChart`` is the template form).

Chart sources (``repositoryURL``):

- ``http://`` / ``https://``: a chart repository; ``chartName`` and ``chartVersion`` are
  looked up in its ``index.yaml``. ``chartVersion`` may be a semver constraint
  (``>=3.1.0 <4``, ``~3.1``, ``^3``), as Helm's ``--version`` accepts; the highest match wins.
- ``oci://``: a registry; the chart is ``<repositoryURL>/<chart>`` (tag = ``chartVersion``).
- ``file:///dir`` or an absolute path (a Ripple extension for demos and tests): a chart
  directory or ``.tgz``, or a directory holding ``<chart>/`` or ``<chart>-<version>.tgz``.
- Flux sources (``gitrepository://`` ...) are not supported.

**Repository prefix rule** (:meth:`HelmChart.chart_ref`): Sveltos' examples write
``chartName: kyverno/kyverno`` with ``repositoryName: kyverno`` (the name of a ``helm repo
add``). The chart asked from the repository is ``chartName`` without its first segment when
that segment equals ``repositoryName``; any other ``chartName`` is used whole.

**Options Ripple honours**: ``installOptions.createNamespace`` (default true),
``skipCRDs``, ``skipSchemaValidation``, ``disableOpenAPIValidation``, ``takeOwnership``,
``labels`` and ``description`` (on the release), ``timeout`` (a wall-clock bound on each
operation, default 5m), ``upgradeOptions.maxHistory`` (default 2), and
``uninstallOptions.keepHistory`` / ``deletionPropagation``. Hooks are never run (as if
``disableHooks`` were always set: hook Jobs need controllers, and a worker thread would wait
for them); ``wait``, ``waitForJobs``, ``atomic`` and ``runTests`` are ignored with a
warning. Values are always sent whole (Ripple computes the complete values), so
``resetValues``/``reuseValues`` have no meaning and are ignored with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from shared.api.addons import ValueFrom
from shared.api.meta import ApiModel, LooseModel
from shared.api.yamlio import YamlTooLarge, load_bounded
from shared.helm.errors import InvalidHelmChart
from shared.templating.funcs.gotime import GoTimeError, parse_duration

#: a release name: a DNS-1123 subdomain of at most 53 characters (Helm's own rule)
RELEASE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RELEASE_NAME_MAX = 53
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_MAX_HISTORY = 2

SourceKind = Literal["http", "oci", "local"]


class SecretRef(ApiModel):
    """A ``corev1.SecretReference`` (namespace empty: the cluster's namespace)."""

    name: str = ""
    namespace: str = ""


class RegistryCredentialsConfig(LooseModel):
    """Where the credentials of a private repository are; the caller resolves the Secrets."""

    credentials: SecretRef | None = None
    key: str = ""
    ca: SecretRef | None = None
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")
    plain_http: bool = Field(default=False, alias="plainHTTP")


class InstallOptions(LooseModel):
    create_namespace: bool | None = Field(default=None, alias="createNamespace")
    replace: bool | None = None
    disable_hooks: bool = Field(default=False, alias="disableHooks")
    take_ownership: bool = Field(default=False, alias="takeOwnership")


class UpgradeOptions(LooseModel):
    force: bool = False
    reset_values: bool = Field(default=False, alias="resetValues")
    reuse_values: bool = Field(default=False, alias="reuseValues")
    reset_then_reuse_values: bool = Field(default=False, alias="resetThenReuseValues")
    max_history: int | None = Field(default=None, alias="maxHistory", ge=0)
    cleanup_on_fail: bool = Field(default=False, alias="cleanupOnFail")
    upgrade_crds: bool = Field(default=False, alias="upgradeCRDs")
    disable_hooks: bool = Field(default=False, alias="disableHooks")
    take_ownership: bool = Field(default=False, alias="takeOwnership")


class UninstallOptions(LooseModel):
    keep_history: bool = Field(default=False, alias="keepHistory")
    deletion_propagation: Literal["", "orphan", "foreground", "background"] = Field(
        default="", alias="deletionPropagation"
    )
    disable_hooks: bool = Field(default=False, alias="disableHooks")


class HelmOptions(LooseModel):
    """Sveltos' ``options`` (HelmOptions); see the module docstring for what is honoured."""

    skip_crds: bool = Field(default=False, alias="skipCRDs")
    skip_schema_validation: bool = Field(default=False, alias="skipSchemaValidation")
    wait: bool = False
    wait_for_jobs: bool = Field(default=False, alias="waitForJobs")
    timeout: str | float | None = None
    disable_hooks: bool = Field(default=False, alias="disableHooks")
    disable_openapi_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    atomic: bool = False
    dependency_update: bool = Field(default=False, alias="dependencyUpdate")
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    run_tests: bool = Field(default=False, alias="runTests")
    install_options: InstallOptions = Field(default_factory=InstallOptions, alias="installOptions")
    upgrade_options: UpgradeOptions = Field(default_factory=UpgradeOptions, alias="upgradeOptions")
    uninstall_options: UninstallOptions = Field(
        default_factory=UninstallOptions, alias="uninstallOptions"
    )

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | float | None) -> str | float | None:
        if isinstance(value, str):
            try:
                if parse_duration(value) <= 0:
                    raise ValueError(f"timeout {value!r} must be positive")
            except GoTimeError as exc:
                raise ValueError(f"timeout {value!r} is not a duration like 5m0s: {exc}") from None
        elif value is not None and value <= 0:
            raise ValueError(f"timeout {value!r} must be positive")
        return value


@dataclass(frozen=True)
class Effective:
    """The options an operation actually uses, after Ripple's decisions."""

    create_namespace: bool = True
    skip_crds: bool = False
    skip_schema_validation: bool = False
    disable_openapi_validation: bool = False
    take_ownership: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_history: int = DEFAULT_MAX_HISTORY
    keep_history: bool = False
    deletion_propagation: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    description: str = ""
    warnings: tuple[str, ...] = ()


class HelmChart(LooseModel):
    """One instantiated ``helmCharts`` entry (Sveltos' HelmChart; unknown fields are kept)."""

    repository_url: str = Field(min_length=1, alias="repositoryURL")
    repository_name: str = Field(default="", alias="repositoryName")
    chart_name: str = Field(min_length=1, alias="chartName")
    chart_version: str = Field(default="", alias="chartVersion")
    release_name: str = Field(alias="releaseName")
    release_namespace: str = Field(alias="releaseNamespace")
    values: str = ""
    values_from: list[ValueFrom] = Field(default_factory=list, alias="valuesFrom")
    helm_chart_action: Literal["Install", "Uninstall"] = Field(
        default="Install", alias="helmChartAction"
    )
    options: HelmOptions | None = None
    registry_credentials_config: RegistryCredentialsConfig | None = Field(
        default=None, alias="registryCredentialsConfig"
    )

    @field_validator("release_name")
    @classmethod
    def _release_name(cls, value: str) -> str:
        if not value:
            raise ValueError("releaseName is required")
        if len(value) > RELEASE_NAME_MAX:
            raise ValueError(
                f"releaseName {value!r} is {len(value)} characters long; Helm allows "
                f"{RELEASE_NAME_MAX}"
            )
        if not RELEASE_NAME_RE.match(value):
            raise ValueError(
                f"releaseName {value!r} is not a DNS-1123 name (lower case letters, digits, "
                "'-' and '.', starting and ending with a letter or digit)"
            )
        return value

    @field_validator("release_namespace")
    @classmethod
    def _release_namespace(cls, value: str) -> str:
        if not value:
            raise ValueError("releaseNamespace is required")
        if len(value) > 63 or not _LABEL_RE.match(value):
            raise ValueError(f"releaseNamespace {value!r} is not a DNS-1123 label")
        return value

    @model_validator(mode="after")
    def _source(self) -> HelmChart:
        kind = self.source_kind  # raises on an unsupported scheme
        if kind in ("http", "oci"):
            if not self.repository_name:
                raise ValueError(f"repositoryName is required for {self.repository_url}")
            if not self.chart_version:
                raise ValueError(f"chartVersion is required for {self.repository_url}")
        return self

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str = "helmCharts entry") -> HelmChart:
        """Validate one entry; errors name every offending field in one message."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "missing":
                    msg = f"{loc} is required"
                problems.append(msg if not loc or loc in msg else f"{loc}: {msg}")
            raise InvalidHelmChart(f"{where}: {'; '.join(problems)}") from None

    @property
    def source_kind(self) -> SourceKind:
        url = self.repository_url
        if url.startswith(("http://", "https://")):
            return "http"
        if url.startswith("oci://"):
            return "oci"
        if url.startswith("file://") or url.startswith("/"):
            return "local"
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise ValueError(
            f"repositoryURL {url!r}: unsupported source {scheme!r} (Ripple reads http(s)://, "
            "oci://, file:// and absolute paths; Flux sources are not supported)"
        )

    def chart_ref(self) -> str:
        """The chart to ask the source for: ``chartName`` without ``<repositoryName>/``."""
        prefix = f"{self.repository_name}/" if self.repository_name else ""
        if prefix and self.chart_name.startswith(prefix) and len(self.chart_name) > len(prefix):
            return self.chart_name[len(prefix) :]
        return self.chart_name

    def local_path(self) -> str:
        """The filesystem path of a local source (``file://`` stripped)."""
        return self.repository_url.removeprefix("file://")

    def values_dict(self) -> dict[str, Any]:
        """``values`` (an instantiated YAML document) as a mapping; empty -> ``{}``."""
        return load_values(
            self.values, f"release {self.release_namespace}/{self.release_name}: values"
        )

    def effective(self) -> Effective:
        """The options an operation uses, and warnings for what Ripple ignores."""
        o = self.options or HelmOptions()
        up = o.upgrade_options
        ignored = (
            ("wait", o.wait, "Ripple never waits for readiness"),
            ("waitForJobs", o.wait_for_jobs, "Ripple never waits for Jobs"),
            ("atomic", o.atomic, "it implies wait; a failed operation is retried instead"),
            ("runTests", o.run_tests, "Ripple runs no test hooks"),
            ("dependencyUpdate", o.dependency_update, "charts must ship their dependencies"),
            ("upgradeOptions.resetValues", up.reset_values, _WHOLE),
            ("upgradeOptions.reuseValues", up.reuse_values, _WHOLE),
            ("upgradeOptions.resetThenReuseValues", up.reset_then_reuse_values, _WHOLE),
            ("upgradeOptions.upgradeCRDs", up.upgrade_crds, "CRDs are installed, never upgraded"),
        )
        warnings = [f"options.{name} is ignored: {why}" for name, flag, why in ignored if flag]
        timeout = DEFAULT_TIMEOUT_SECONDS
        if isinstance(o.timeout, str):
            timeout = parse_duration(o.timeout) / 1e9
        elif o.timeout is not None:
            timeout = float(o.timeout)
        max_history = up.max_history
        return Effective(
            create_namespace=o.install_options.create_namespace is not False,
            skip_crds=o.skip_crds,
            skip_schema_validation=o.skip_schema_validation,
            disable_openapi_validation=o.disable_openapi_validation,
            take_ownership=o.install_options.take_ownership or up.take_ownership,
            timeout_seconds=timeout,
            max_history=DEFAULT_MAX_HISTORY if max_history is None else max_history,
            keep_history=o.uninstall_options.keep_history,
            deletion_propagation=o.uninstall_options.deletion_propagation,
            labels=tuple(sorted(o.labels.items())),
            description=o.description,
            warnings=tuple(warnings),
        )


_WHOLE = "Ripple always sends the complete values"


def load_values(text: str, where: str) -> dict[str, Any]:
    """One YAML values document as a mapping (empty or null: ``{}``), read as Helm reads
    values (timestamps stay strings); :class:`InvalidHelmChart` naming ``where`` otherwise."""
    try:
        docs = load_bounded(text, _ValuesLoader, single=True) if text.strip() else [{}]
    except YamlTooLarge as exc:
        raise InvalidHelmChart(f"{where} are refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidHelmChart(f"{where} are not YAML: {_yaml_reason(exc)}") from None
    loaded = docs[0] if docs else None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidHelmChart(f"{where} must be a mapping, not {type(loaded).__name__}")
    return loaded


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """A YAML error without PyYAML's snippet of the text (values may come from a Secret):
    what is wrong, and where."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    mark = exc.problem_mark or exc.context_mark
    reason = ", ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
    if mark is None:
        return reason
    return f"{reason} (line {mark.line + 1}, column {mark.column + 1})"


def merge_values(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``other`` into ``into`` as Sveltos' addon-controller merges values documents
    (mergo with override): mappings are merged key by key, recursively; any other value of
    ``other`` replaces the one in ``into``, except a null, which replaces nothing that exists.
    Returns ``into``."""
    for key, value in other.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge_values(current, value)
        elif value is None and key in into:
            continue
        else:
            into[key] = _copy(value)
    return into


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _ValuesLoader(yaml.SafeLoader):
    """YAML as Helm reads values: timestamps stay strings (no datetime objects)."""


_ValuesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "DEFAULT_TIMEOUT_SECONDS",
    "Effective",
    "HelmChart",
    "HelmOptions",
    "InstallOptions",
    "RegistryCredentialsConfig",
    "SecretRef",
    "SourceKind",
    "UninstallOptions",
    "UpgradeOptions",
    "load_values",
    "merge_values",
]
