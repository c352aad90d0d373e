"""What a trigger (and a ClusterProfile) deploys: policyRefs, helmCharts, kustomizationRefs,
templateResourceRefs, generators, and the profile fields Sveltos copies verbatim.

Shared by :mod:`shared.api.eventtrigger` and :mod:`shared.api.clusterprofile`. Helm charts,
kustomizations and template resource refs are loose: the known keys are typed, anything
else Sveltos may add is kept as is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.api.meta import ApiModel, LooseModel
from shared.api.vocabulary import INSTANTIATE_ANNOTATION as INSTANTIATE_ANNOTATION
from shared.api.vocabulary import LEGACY_TEMPLATE_ANNOTATION as LEGACY_TEMPLATE_ANNOTATION

PolicyRefKind = Literal["ConfigMap", "Secret", "GitRepository", "OCIRepository", "Bucket"]
DeploymentType = Literal["Local", "Remote"]
StopMatchingBehavior = Literal["WithdrawPolicies", "LeavePolicies"]
SyncMode = Literal["OneTime", "Continuous", "ContinuousWithDriftDetection", "DryRun"]


class PolicyRef(ApiModel):
    """A referenced ConfigMap/Secret (or Flux source) holding resources to deploy.

    ``namespace`` empty means the source cluster's namespace; ``namespace``, ``name`` and
    ``path`` are templates.
    """

    namespace: str = ""
    name: str = Field(min_length=1)
    kind: PolicyRefKind
    path: str = ""
    optional: bool = False
    deployment_type: DeploymentType = Field(default="Remote", alias="deploymentType")
    skip_namespace_creation: bool = Field(default=False, alias="skipNamespaceCreation")
    tier: int = Field(default=100, ge=1)


class ValueFrom(ApiModel):
    """``valuesFrom`` entry of a helm chart or kustomization (name/namespace are templates)."""

    namespace: str = ""
    name: str = Field(min_length=1)
    kind: Literal["ConfigMap", "Secret"]
    optional: bool = False


class HelmChart(LooseModel):
    """A Sveltos HelmChart. The string fields and ``values`` are templates."""

    repository_url: str = Field(min_length=1, alias="repositoryURL")
    repository_name: str = Field(min_length=1, alias="repositoryName")
    chart_name: str = Field(min_length=1, alias="chartName")
    chart_version: str = Field(min_length=1, alias="chartVersion")
    release_name: str = Field(min_length=1, alias="releaseName")
    release_namespace: str = Field(min_length=1, alias="releaseNamespace")
    helm_chart_action: Literal["Install", "Uninstall"] = Field(
        default="Install", alias="helmChartAction"
    )
    values: str = ""
    values_from: list[ValueFrom] = Field(default_factory=list, alias="valuesFrom")


class KustomizationRef(LooseModel):
    """A kustomization source. ``namespace``, ``name``, ``path``... are templates."""

    namespace: str = ""
    name: str = Field(min_length=1)
    kind: PolicyRefKind
    path: str = ""
    target_namespace: str = Field(default="", alias="targetNamespace")
    deployment_type: DeploymentType = Field(default="Remote", alias="deploymentType")
    values: dict[str, str] = Field(default_factory=dict)
    values_from: list[ValueFrom] = Field(default_factory=list, alias="valuesFrom")
    components: list[str] = Field(default_factory=list)
    optional: bool = False
    skip_namespace_creation: bool = Field(default=False, alias="skipNamespaceCreation")
    tier: int = Field(default=100, ge=1)


class ResourceReference(LooseModel):
    """An object reference whose fields may be templates (kind/apiVersion/namespace/name)."""

    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    namespace: str = ""
    name: str = ""


class TemplateResourceRef(ApiModel):
    """A management-cluster object made available to templates under ``identifier``."""

    resource: ResourceReference
    identifier: str = Field(min_length=1)
    optional: bool = False


class Generator(ApiModel):
    """``configMapGenerator``/``secretGenerator`` entry: a source rendered to ``nameFormat``."""

    namespace: str = ""
    name: str = Field(min_length=1)
    name_format: str = Field(default="", alias="nameFormat")
    optional: bool = False


class ProfileFields(ApiModel):
    """Fields a trigger copies verbatim into its ClusterProfiles (sveltos-semantics §4.6).

    Only ``stopMatchingBehavior`` and ``syncMode`` are interpreted by Ripple; the others are
    carried through as given.
    """

    stop_matching_behavior: StopMatchingBehavior = Field(
        default="WithdrawPolicies", alias="stopMatchingBehavior"
    )
    sync_mode: SyncMode = Field(default="Continuous", alias="syncMode")
    tier: int | None = None
    continue_on_conflict: bool | None = Field(default=None, alias="continueOnConflict")
    continue_on_error: bool | None = Field(default=None, alias="continueOnError")
    reloader: bool | None = None
    max_update: int | str | None = Field(default=None, alias="maxUpdate")
    max_consecutive_failures: int | None = Field(default=None, alias="maxConsecutiveFailures")
    pre_deploy_checks: list[dict[str, Any]] | None = Field(default=None, alias="preDeployChecks")
    post_deploy_checks: list[dict[str, Any]] | None = Field(default=None, alias="postDeployChecks")
    validate_healths: list[dict[str, Any]] | None = Field(default=None, alias="validateHealths")
    pre_delete_checks: list[dict[str, Any]] | None = Field(default=None, alias="preDeleteChecks")
    post_delete_checks: list[dict[str, Any]] | None = Field(default=None, alias="postDeleteChecks")
    patches: list[dict[str, Any]] | None = None
    patches_from: list[dict[str, Any]] | None = Field(default=None, alias="patchesFrom")
    extra_labels: dict[str, str] | None = Field(default=None, alias="extraLabels")
    extra_annotations: dict[str, str] | None = Field(default=None, alias="extraAnnotations")
    drift_exclusions: list[dict[str, Any]] | None = Field(default=None, alias="driftExclusions")
    depends_on: list[str] | None = Field(default=None, alias="dependsOn")

    def profile_fields(self) -> dict[str, Any]:
        """The copied-verbatim fields as they go into a ClusterProfile spec (camelCase)."""
        out: dict[str, Any] = {}
        for name in COPIED_PROFILE_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            alias = type(self).model_fields[name].alias or name
            out[alias] = value
        return out


#: attribute names of :class:`ProfileFields` copied into generated ClusterProfiles
COPIED_PROFILE_FIELDS: tuple[str, ...] = tuple(ProfileFields.model_fields)
