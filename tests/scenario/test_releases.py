"""Helm releases in expectations (pure): the model's validation, reading Helm's storage
Secrets (current revision, uninstalled, other releases), decoding the release data, and the
subset comparison."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.scenario.releases import (
    ExpectedRelease,
    Release,
    ReleaseRef,
    check_absent,
    check_release,
    current_release,
    decode_release,
    selector,
)


def encoded(body: dict[str, Any], *, gzipped: bool = True) -> str:
    """A storage Secret's ``release`` data as the API returns it: base64 (the Secret's
    encoding) of Helm's base64 of gzip of JSON."""
    raw = json.dumps(body).encode()
    helm = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return base64.b64encode(helm).decode()


def secret(
    name: str,
    version: int,
    status: str,
    *,
    namespace: str = "kyverno",
    chart: tuple[str, str] = ("kyverno", "2.6.0"),
) -> dict[str, Any]:
    body = {
        "name": name,
        "namespace": namespace,
        "version": version,
        "info": {"status": status},
        "chart": {"metadata": {"name": chart[0], "version": chart[1]}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{version}",
            "namespace": namespace,
            "labels": {
                "owner": "helm",
                "name": name,
                "version": str(version),
                "status": status,
            },
        },
        "type": "helm.sh/release.v1",
        "data": {"release": encoded(body)},
    }


def expected(**fields: Any) -> ExpectedRelease:
    return ExpectedRelease.model_validate({"namespace": "kyverno", "name": "k", **fields})


# -- model ------------------------------------------------------------------------------------
def test_only_namespace_and_name_are_required() -> None:
    release = expected()
    assert (release.status, release.revision, release.chart_version) == (None, None, None)
    assert not release.needs_chart
    assert expected(chartVersion="2.6.0").needs_chart
    assert str(ReleaseRef(namespace="kyverno", name="k")) == "Helm release kyverno/k"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "installed"}, "unknown Helm status 'installed' (one of deployed,"),
        ({"status": "uninstalled"}, "counts as absent: use absentReleases"),
        ({"revision": 0}, "greater than or equal to 1"),
        ({"chartVersion": 2.6}, "write the version as a string (quote 2.6 in YAML)"),
        ({"chartVersion": ""}, "at least 1 character"),
        ({"version": "2.6.0"}, "Extra inputs are not permitted"),
        ({"name": ""}, "at least 1 character"),
    ],
)
def test_invalid_expectations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expected(**fields)


# -- storage ----------------------------------------------------------------------------------
def test_the_highest_version_is_the_current_revision() -> None:
    secrets = [
        secret("k", 2, "superseded"),
        secret("k", 10, "deployed"),  # numeric order, not text order
        secret("k", 9, "superseded"),
        secret("other", 11, "deployed"),
        secret("k", 12, "deployed", namespace="elsewhere"),
    ]
    release = current_release(secrets, "kyverno", "k")
    assert release is not None
    assert (release.revision, release.status, release.version) == (10, "deployed", "revision 10")
    assert release.describe() == "revision 10, deployed"  # the chart is not decoded yet
    assert release.chart_metadata() == {"name": "kyverno", "version": "2.6.0"}
    assert release.describe() == "revision 10, deployed, chart kyverno 2.6.0"


def test_no_secret_or_an_uninstalled_latest_revision_is_absent() -> None:
    assert current_release([], "kyverno", "k") is None
    kept = [secret("k", 1, "superseded"), secret("k", 2, "uninstalled")]
    assert current_release(kept, "kyverno", "k") is None
    again = [*kept, secret("k", 3, "deployed")]
    assert current_release(again, "kyverno", "k") is not None


def test_selector() -> None:
    assert selector("kyverno-latest") == "owner=helm,name=kyverno-latest"


def test_decode_accepts_the_api_form_helm_form_and_plain_json() -> None:
    body = {"chart": {"metadata": {"version": "1.0.0"}}}
    api = encoded(body)
    assert decode_release(api) == body
    assert decode_release(base64.b64decode(api)) == body  # Helm's own encoding
    assert decode_release(encoded(body, gzipped=False)) == body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"\x1f\x8bnot gzip").decode(), "not valid gzip"),
        (base64.b64encode(base64.b64encode(b"{not json")).decode(), "not JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "not base64"),
    ],
)
def test_decode_errors(data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_release(data)


def test_decode_error_of_a_json_array() -> None:
    data = base64.b64encode(base64.b64encode(gzip.compress(b"[1]"))).decode()
    with pytest.raises(ValueError, match="a JSON list, not an object"):
        decode_release(data)


# -- comparison -------------------------------------------------------------------------------
def _current(status: str = "deployed", revision: int = 2) -> Release:
    release = current_release([secret("k", revision, status)], "kyverno", "k")
    assert release is not None
    return release


def test_only_the_fields_given_are_compared() -> None:
    assert check_release(expected(), _current("failed", 7)) == []
    assert check_release(expected(status="deployed", revision=2), _current()) == []
    full = expected(status="deployed", revision=2, chart="kyverno", chartVersion="2.6.0")
    assert check_release(full, _current()) == []


def test_every_differing_field_is_named() -> None:
    want = expected(status="deployed", revision=3, chart="hello", chartVersion="2.7.0")
    assert check_release(want, _current("pending-upgrade")) == [
        "status: expected deployed, got pending-upgrade",
        "revision: expected 3, got 2",
        "chart: expected hello, got kyverno",
        "chartVersion: expected 2.7.0, got 2.6.0",
    ]


def test_the_release_data_is_decoded_only_when_the_chart_is_asked() -> None:
    broken = Release("kyverno", "k", 1, "deployed", data="garbage")
    assert check_release(expected(status="deployed", revision=1), broken) == []
    (problem,) = check_release(expected(chartVersion="2.6.0"), broken)
    assert problem.startswith("cannot decode revision 1: release data is not base64")


def test_missing_and_absent() -> None:
    assert check_release(expected(), None) == [
        "missing: no such release (or its latest revision is uninstalled)"
    ]
    assert check_absent(None) == []
    assert check_absent(_current()) == ["still installed (revision 2, deployed)"]
