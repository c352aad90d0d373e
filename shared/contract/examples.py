"""One deterministic example message per CloudEvent type (documentation and tests).

``python -m shared.contract.examples`` prints them as the JSON shown in
``docs/nats-contract.md``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TypeVar

from shared.api.vocabulary import (
    CAPI,
    CLUSTER_PROFILE,
    CONFIG_MAP,
    EVENT_SOURCE,
    EVENT_TRIGGER,
    EVENT_TRIGGER_LABELS,
    SVELTOS_NAMESPACE,
)
from shared.contract.messages import (
    AgentStatus,
    AppliedObject,
    ApplyOutcome,
    Assignment,
    DefinitionStatus,
    DesiredChart,
    DesiredObject,
    DesiredState,
    Envelope,
    EventReportSnapshot,
    Match,
    MatchHead,
    ObjectError,
    ObjectRef,
    Payload,
    ProfileState,
    ReleaseOutcome,
    ResourceChange,
    ResourceReference,
    envelope,
)
from shared.contract.subjects import ClusterRef

CLUSTER = ClusterRef(namespace="default", name="prod.eu-1", type=CAPI)
TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "2f1c9c55-8a2e-4c57-9d3b-1b7a1fa0c001",
        "resourceVersion": "4711",
        "labels": {"sveltos": "fv"},
    },
    "spec": {"ports": [{"name": "https", "port": 443}]},
}
SERVICE_REF = ObjectRef(api_version="v1", kind="Service", namespace="shop", name="web")
EVENT_SOURCE_OBJECT = {
    "apiVersion": EVENT_SOURCE.api_version,
    "kind": EVENT_SOURCE.kind,
    "metadata": {"name": "https-service"},
    "spec": {
        "collectResources": True,
        "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service"}],
    },
}
NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "front-web", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}},
}
PROFILE = "sveltos-8d3kq0f1yzt2h6c4r9ax"
LUA_ERROR = ObjectError(
    object=ObjectRef(api_version="v1", kind="Service", namespace="shop", name="db"),
    message="lua: line 3: attempt to index a nil value",
)


def examples() -> list[Envelope]:
    """One envelope per type, in :data:`shared.contract.messages.ENVELOPES` order."""
    report = EventReportSnapshot(
        cluster=CLUSTER,
        event_source_name="https-service",
        agent_instance="agent-7f9c",
        generation=42,
        complete=True,
        matching_resources=[SERVICE_REF],
        resources=[SERVICE],
        errors=[LUA_ERROR],
    )
    changes = [
        ResourceChange(
            cluster=CLUSTER,
            event_source_name="https-service",
            change=change,
            ref=SERVICE_REF,
            uid="2f1c9c55-8a2e-4c57-9d3b-1b7a1fa0c001",
            resource_version=version,
            object=SERVICE if change != "unmatched" else None,
        )
        for change, version in (("matched", "4711"), ("updated", "4712"), ("unmatched", "4713"))
    ]
    match = Match(
        cluster=CLUSTER,
        event_source_name="https-service",
        ref=SERVICE_REF,
        uid="2f1c9c55-8a2e-4c57-9d3b-1b7a1fa0c001",
        resource_version="4711",
        object=SERVICE,
        agent_instance="agent-7f9c",
    )
    head = MatchHead(
        cluster=CLUSTER,
        event_source_name="https-service",
        agent_instance="agent-7f9c",
        generation=42,
        complete=True,
        errors=[LUA_ERROR],
        error_count=1,
    )
    assignment = Assignment(
        cluster=CLUSTER,
        event_source_name="https-service",
        event_source=EVENT_SOURCE_OBJECT,
        triggers=["network-policy"],
    )
    desired = DesiredState(
        cluster=CLUSTER,
        profile_name=PROFILE,
        generation=3,
        objects=[
            DesiredObject(
                manifest=NETPOL,
                hash="sha256:9b1f0c3e5f0a4d7c2e8b6a1d3c5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e",
                reference=ResourceReference(
                    kind=CONFIG_MAP.kind, namespace=SVELTOS_NAMESPACE, name="sveltos-2m9x4k"
                ),
            )
        ],
        helm_charts=[
            DesiredChart(
                chart={
                    "repositoryURL": "https://kyverno.github.io/kyverno/",
                    "repositoryName": "kyverno",
                    "chartName": "kyverno/kyverno",
                    "chartVersion": "v3.1.1",
                    "releaseName": "kyverno-latest",
                    "releaseNamespace": "kyverno",
                    "helmChartAction": "Install",
                    "values": "admissionController:\n  replicas: 1\n",
                },
                values={"admissionController": {"replicas": 1}},
                hash="sha256:4e1d7a0c2b9f8e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d",
            )
        ],
        labels={EVENT_TRIGGER_LABELS.trigger_name: "network-policy"},
    )
    outcome = ApplyOutcome(
        cluster=CLUSTER,
        profile_name=PROFILE,
        generation=3,
        status="Provisioned",
        applied=[
            AppliedObject(
                api_version="networking.k8s.io/v1",
                kind="NetworkPolicy",
                namespace="shop",
                name="front-web",
                hash="sha256:9b1f0c3e5f0a4d7c2e8b6a1d3c5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e",
            )
        ],
        releases=[
            ReleaseOutcome(
                namespace="kyverno",
                name="kyverno-latest",
                hash="sha256:4e1d7a0c2b9f8e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d",
                chart_name="kyverno",
                chart_version="3.1.1",
                app_version="v1.11.1",
                revision=1,
                status="deployed",
                action="install",
            )
        ],
    )
    status = AgentStatus(
        cluster=CLUSTER,
        instance="agent-7f9c",
        state="ready",
        watched_gvks=["/v1/Service", "apps/v1/Deployment"],
        time=TIME,
    )
    profile = ProfileState(
        cluster=CLUSTER,
        profile_name=PROFILE,
        trigger="network-policy",
        cluster_profile={
            "apiVersion": CLUSTER_PROFILE.api_version,
            "kind": CLUSTER_PROFILE.kind,
            "metadata": {
                "name": PROFILE,
                "labels": {EVENT_TRIGGER_LABELS.trigger_name: "network-policy"},
            },
            "spec": {
                "clusterRefs": [CLUSTER.key.object_key().reference()],
                "policyRefs": [
                    {
                        "kind": CONFIG_MAP.kind,
                        "namespace": SVELTOS_NAMESPACE,
                        "name": "sveltos-2m9x4k",
                        "deploymentType": "Remote",
                    }
                ],
                "syncMode": "Continuous",
                "stopMatchingBehavior": "WithdrawPolicies",
            },
        },
        instantiated=[
            {
                "apiVersion": CONFIG_MAP.api_version,
                "kind": CONFIG_MAP.kind,
                "metadata": {"name": "sveltos-2m9x4k", "namespace": SVELTOS_NAMESPACE},
                "data": {"policy.yaml": "kind: NetworkPolicy\n..."},
            }
        ],
    )
    definition = DefinitionStatus(
        kind=EVENT_TRIGGER.kind,
        name="network-policy",
        matching_clusters=[CLUSTER],
        failure_message="",
    )
    payloads: list[Payload] = [
        report,
        *changes,
        match,
        head,
        assignment,
        desired,
        outcome,
        status,
        profile,
        definition,
    ]
    return [
        envelope(p, time=TIME, id=None if isinstance(p, ResourceChange) else f"example-{i}")
        for i, p in enumerate(payloads)
    ]


E = TypeVar("E", bound=Envelope)


def example(cls: type[E]) -> E:
    """The example of one envelope class (e.g. ``example(MatchEvent)``)."""
    for message in examples():
        if isinstance(message, cls):
            return message
    raise LookupError(f"no example of {cls.TYPE}")


def markdown() -> str:
    """The examples as the Markdown shown in docs/nats-contract.md (one section per type)."""
    parts = []
    for message in examples():
        body = json.dumps(message.model_dump(mode="json"), indent=2)
        parts.append(f"#### `{message.type}`\n\n```json\n{body}\n```\n")
    return "\n".join(parts)


def main() -> int:
    print(markdown(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
