"""What an ``expect`` step names, and how each is read and judged in the live clusters (see
:mod:`services.scenario.steps` for the step itself: polling, ``for``, timings).

A :class:`Probe` is one object of ``present`` or ``absent``, one Helm release of
``releases`` or ``absentReleases`` (read from Helm's storage Secrets:
:mod:`services.scenario.releases`), or a definition of the management cluster whose
``status.failureMessage`` is expected (:mod:`services.scenario.definitions`).
:func:`expect_probes` lists them; :func:`judge` says what is wrong with one now (nothing: it
holds) and :func:`version` what its version is (to say "appeared", "was updated" or "was
removed"). Every read goes through the official client of the probe's cluster
(``clients(cluster)``); a read that fails is a problem for :func:`judge`, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.scenario.compare import check_deployed
from services.scenario.definitions import (
    MessageExpectation,
    check_failure_message,
    definition_gvk,
)
from services.scenario.model import MANAGEMENT, ExpectStep, read_objects
from services.scenario.releases import (
    ExpectedRelease,
    ReleaseRef,
    check_absent,
    check_release,
    read_release,
)
from shared.kube import GVK, KindNotServed, KubeClient, KubeError, object_key

_SECRET = GVK("v1", "Secret")  # where Helm stores a release

#: the client of a cluster (``"management"`` or ``"NS/NAME"``)
Clients = Callable[[str], KubeClient]


@dataclass
class Probe:
    """One object or Helm release (``release``) an expectation names, with how to fetch and
    judge it."""

    cluster: str
    mode: str
    gvk: GVK
    namespace: str
    name: str
    expected: dict[str, Any] | None = None
    release: ReleaseRef | None = None
    status: tuple[MessageExpectation | None] | None = None  # a definition's failureMessage

    @property
    def what(self) -> str:
        if self.release is not None:
            return str(self.release)
        ns = f"{self.namespace}/" if self.namespace else ""
        if self.status is not None:
            said = self.status[0].describe() if self.status[0] else "is cleared"
            return f"{self.gvk.kind} {ns}{self.name}: failureMessage {said}"
        return f"{self.gvk.kind} {ns}{self.name}"


def resource_version(obj: dict[str, Any] | None) -> str:
    """An object's resourceVersion ("" when absent)."""
    if obj is None:
        return ""
    return str((obj.get("metadata") or {}).get("resourceVersion") or "present")


def namespace_in(client: KubeClient, gvk: GVK, namespace: str) -> str | None:
    """The namespace to address an object of ``gvk`` in (None: cluster-scoped; ``default``
    when a namespaced object names none)."""
    if not client.namespaced(gvk):
        return None
    return namespace or "default"


def expect_probes(action: ExpectStep, base_dir: Path) -> list[Probe]:
    """What an ``expect`` names (files relative to ``base_dir``), the definition first."""
    probes = []
    if action.definition is not None:
        gvk, said = definition_gvk(action.definition.kind), (action.failure_message,)
        probes.append(Probe(MANAGEMENT, "present", gvk, "", action.definition.name, status=said))
    cluster = action.cluster or MANAGEMENT  # the model requires it for what follows
    for rel in action.present:
        for obj in read_objects(base_dir / rel):
            key = object_key(obj)
            probes.append(Probe(cluster, "present", GVK.of(obj), key.namespace, key.name, obj))
    for ref in action.absent:
        probes.append(
            Probe(
                cluster,
                "absent",
                GVK(ref.api_version, ref.kind),
                ref.namespace,
                ref.name,
            )
        )
    for mode, releases in (("present", action.releases), ("absent", action.absent_releases)):
        for named in releases:
            probes.append(Probe(cluster, mode, _SECRET, named.namespace, named.name, release=named))
    return probes


def _fetch(clients: Clients, probe: Probe) -> dict[str, Any] | None:
    client = clients(probe.cluster)
    try:
        ns = namespace_in(client, probe.gvk, probe.namespace)
    except KindNotServed:
        return None
    return client.get(probe.gvk, ns, probe.name)


def version(clients: Clients, probe: Probe) -> str:
    """The probe's resourceVersion, or its release's revision ("" when absent)."""
    if probe.release is None:
        return resource_version(_fetch(clients, probe))
    release = read_release(clients(probe.cluster), probe.release)
    return release.version if release is not None else ""


def _judge_release(clients: Clients, probe: Probe, ref: ReleaseRef) -> tuple[list[str], str, str]:
    try:
        release = read_release(clients(probe.cluster), ref)
    except KubeError as err:
        return [f"cannot read it: {err}"], "", ""
    if probe.mode == "absent":
        problems = check_absent(release)
    else:
        assert isinstance(ref, ExpectedRelease)
        problems = check_release(ref, release)
    if release is None:
        return problems, "", ""
    return problems, release.version, release.describe()


def judge(clients: Clients, probe: Probe) -> tuple[list[str], str, str]:
    """Problems of one probe now (empty: it holds), the live resourceVersion (a release:
    its revision) and, for a release, what it is now."""
    if probe.release is not None:
        return _judge_release(clients, probe, probe.release)
    try:
        live = _fetch(clients, probe)
    except KubeError as err:
        return [f"cannot read it: {err}"], "", ""
    if probe.mode == "absent":
        if live is None:
            return [], "", ""
        meta = live.get("metadata") or {}
        extra = " (being deleted)" if meta.get("deletionTimestamp") else ""
        return [f"still exists{extra}"], resource_version(live), ""
    if probe.status is not None:
        return check_failure_message(live, probe.status[0]), resource_version(live), ""
    if live is None:
        return [f"missing: no such object in {probe.cluster}"], "", ""
    assert probe.expected is not None
    return [str(d) for d in check_deployed(probe.expected, live)], resource_version(live), ""
