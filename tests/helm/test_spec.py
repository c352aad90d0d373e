"""shared.helm.spec: a Sveltos helmCharts entry, its checks, the prefix rule and the options."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from shared.helm.errors import HelmTerminal, InvalidHelmChart
from shared.helm.spec import DEFAULT_TIMEOUT_SECONDS, HelmChart
from tests.paths import REPO

# the spec's example (event-framework.txt, "helmCharts")
KYVERNO: dict[str, Any] = {
    "repositoryURL": "https://kyverno.github.io/kyverno/",
    "repositoryName": "kyverno",
    "chartName": "kyverno/kyverno",
    "chartVersion": "v2.6.0",
    "releaseName": "kyverno-latest",
    "releaseNamespace": "kyverno",
    "helmChartAction": "Install",
}


def entry(**changes: Any) -> dict[str, Any]:
    out = {**KYVERNO, **changes}
    return {k: v for k, v in out.items() if v is not None}


def problem(**changes: Any) -> str:
    with pytest.raises(InvalidHelmChart) as info:
        HelmChart.parse(entry(**changes))
    assert isinstance(info.value, HelmTerminal)
    return str(info.value)


def test_the_spec_example_reads_and_round_trips() -> None:
    chart = HelmChart.parse(entry())
    assert chart.source_kind == "http"
    assert chart.chart_ref() == "kyverno"
    assert chart.helm_chart_action == "Install"
    assert chart.model_dump(by_alias=True, exclude_defaults=True) == {
        k: v for k, v in KYVERNO.items() if k != "helmChartAction"
    }


def test_unknown_fields_are_kept() -> None:
    chart = HelmChart.parse(entry(signatureVerification={"provider": "Keyless"}))
    assert chart.to_dict()["signatureVerification"] == {"provider": "Keyless"}


def test_the_model_does_not_load_the_helm_sdk() -> None:
    code = (
        "import sys, shared.helm, shared.helm.spec\n"
        "shared.helm.HelmChart.parse({'repositoryURL': 'file:///c', 'chartName': 'c',"
        " 'releaseName': 'r', 'releaseNamespace': 'n'})\n"
        "assert 'helm_python' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize(
    ("chart_name", "repository_name", "ref"),
    [
        ("kyverno/kyverno", "kyverno", "kyverno"),  # the spec's form: prefix stripped
        ("kyverno", "kyverno", "kyverno"),  # already bare
        ("other/kyverno", "kyverno", "other/kyverno"),  # not the repository's name: kept
        ("kyverno-extra/x", "kyverno", "kyverno-extra/x"),  # a prefix, not a segment
        ("kyverno/", "kyverno", "kyverno/"),  # nothing after the prefix: kept
    ],
)
def test_repository_prefix_rule(chart_name: str, repository_name: str, ref: str) -> None:
    chart = HelmChart.parse(entry(chartName=chart_name, repositoryName=repository_name))
    assert chart.chart_ref() == ref


def test_oci_and_local_sources() -> None:
    oci = HelmChart.parse(entry(repositoryURL="oci://registry.example.com/charts"))
    assert oci.source_kind == "oci"
    local = HelmChart.parse(
        entry(repositoryURL="file:///charts", repositoryName=None, chartVersion=None)
    )
    assert local.source_kind == "local" and local.local_path() == "/charts"
    assert HelmChart.parse(entry(repositoryURL="/charts/kyverno")).source_kind == "local"


def test_chart_name_is_required() -> None:
    assert "chartName is required" in problem(chartName=None)
    assert "chartName" in problem(chartName="")


def test_action_must_be_install_or_uninstall() -> None:
    assert "helmChartAction" in problem(helmChartAction="Delete")
    assert HelmChart.parse(entry(helmChartAction="Uninstall")).helm_chart_action == "Uninstall"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a" * 54, "54 characters long; Helm allows 53"),
        ("Kyverno", "not a DNS-1123 name"),
        ("kyverno_1", "not a DNS-1123 name"),
        ("-kyverno", "not a DNS-1123 name"),
        ("", "releaseName is required"),
    ],
)
def test_release_name_is_a_dns_name_of_53_characters(name: str, why: str) -> None:
    assert why in problem(releaseName=name)


def test_release_names_helm_accepts() -> None:
    for name in ("a" * 53, "kyverno.latest", "k1", "0"):
        assert HelmChart.parse(entry(releaseName=name)).release_name == name


def test_every_problem_is_reported_at_once() -> None:
    message = problem(chartName=None, releaseName="A", releaseNamespace="Bad_NS")
    assert "chartName is required" in message
    assert "releaseName 'A'" in message
    assert "releaseNamespace 'Bad_NS'" in message


def test_repository_sources_need_a_name_and_a_version() -> None:
    assert "repositoryName is required" in problem(repositoryName=None)
    assert "chartVersion is required" in problem(chartVersion="")


def test_flux_sources_are_refused_by_name() -> None:
    message = problem(repositoryURL="gitrepository://flux-system/flux-system/charts")
    assert "unsupported source 'gitrepository'" in message
    assert "Flux sources are not supported" in message


def test_defaults_follow_sveltos() -> None:
    eff = HelmChart.parse(entry()).effective()
    assert eff.create_namespace is True
    assert eff.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert eff.max_history == 2
    assert eff.warnings == ()


def test_honoured_options() -> None:
    options = {
        "skipCRDs": True,
        "timeout": "1m30s",
        "labels": {"team": "a"},
        "description": "d",
        "installOptions": {"createNamespace": False, "takeOwnership": True, "replace": True},
        "upgradeOptions": {"maxHistory": 5},
        "uninstallOptions": {"keepHistory": True, "deletionPropagation": "foreground"},
    }
    eff = HelmChart.parse(entry(options=options)).effective()
    assert eff.skip_crds and eff.take_ownership and eff.keep_history
    assert not eff.create_namespace
    assert eff.timeout_seconds == 90.0
    assert eff.max_history == 5
    assert eff.deletion_propagation == "foreground"
    assert eff.labels == (("team", "a"),)
    assert eff.warnings == ()


def test_ignored_options_warn() -> None:
    options = {"wait": True, "atomic": True, "upgradeOptions": {"reuseValues": True}}
    warnings = HelmChart.parse(entry(options=options)).effective().warnings
    assert warnings == (
        "options.wait is ignored: Ripple never waits for readiness",
        "options.atomic is ignored: it implies wait; a failed operation is retried instead",
        "options.upgradeOptions.reuseValues is ignored: Ripple always sends the complete values",
    )


def test_disable_hooks_is_accepted_and_redundant() -> None:
    options = {"disableHooks": True, "installOptions": {"disableHooks": False}}
    assert HelmChart.parse(entry(options=options)).effective().warnings == ()


@pytest.mark.parametrize("timeout", ["soon", "-1s", 0])
def test_bad_timeouts(timeout: object) -> None:
    assert "timeout" in problem(options={"timeout": timeout})


def test_values() -> None:
    assert HelmChart.parse(entry(values="replicaCount: 2\n")).values_dict() == {"replicaCount": 2}
    assert HelmChart.parse(entry()).values_dict() == {}
    with pytest.raises(InvalidHelmChart, match="values must be a mapping"):
        HelmChart.parse(entry(values="- a\n")).values_dict()
    with pytest.raises(InvalidHelmChart, match="values are not YAML"):
        HelmChart.parse(entry(values="a: [\n")).values_dict()
