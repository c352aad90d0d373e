"""The answers of ``ripple explain`` and ``/v1/explain``: typed, JSON in camelCase.

:class:`Explanation` answers "why did / didn't this object (or CloudEvent) fire": one
:class:`TriggerBlock` per trigger that could concern it, a verdict line first.
:class:`Provenance` answers the converse, "why is this deployed object here".
:func:`exit_code` maps either to the CLI's exit codes (documented in ``ripple explain --help``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

FIRES, DOES_NOT_FIRE, UNKNOWN = "fires", "does not fire", "unknown"
#: exit codes of ``ripple explain``
EXIT_FIRES, EXIT_DOES_NOT_FIRE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2, 3, 4


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class SelectorOut(Out):
    """One resourceSelector of the EventSource."""

    index: int
    api_version: str
    kind: str
    selects: bool
    reason: str = ""  # why its group/version/kind, namespace, name or labels refuse the object
    uses: list[str] = []  # "Lua", "CEL"
    matching: bool | None = None  # its own verdict (when it selects the object)
    decided_by: str = ""
    message: str = ""
    error: str | None = None


class EvaluationOut(Out):
    """The EventSource's verdict on the object (or CloudEvent), by the engine of the agents."""

    verdict: str  # match | no match | unknown
    decided_by: str  # deletion | resourceSelectors | filters | CEL | Lua | messagingMatchCriteria
    #                  | aggregatedSelection | matching set | error
    message: str
    error: str | None = None
    selectors: list[SelectorOut] = []
    criteria: list[str] = []  # CloudEvent: per messagingMatchCriteria entry, why it refuses
    aggregation: str = ""  # aggregatedSelection: what the script decided
    matching_set: str = ""  # live: what the agent's matching set says of the object


class OutcomeOut(Out):
    """The last apply outcome of a profile in one destination (``ripple-outcomes``)."""

    cluster: str
    status: str
    message: str = ""
    generation: int
    objects: int  # objects it applied
    releases: int
    time: datetime | None = None  # when the agent wrote it (None: not known to the manager)


class InstanceOut(Out):
    """One instance of the trigger: the generated ClusterProfile and where it deploys."""

    profile: str
    source_cluster: str
    destinations: list[str]
    objects: list[str]  # "apiVersion/Kind namespace/name" of each object it deploys
    charts: list[str] = []  # "namespace/release chart@version"
    error: str = ""  # instantiation error (the previous objects are kept)
    note: str = ""
    live: bool | None = None  # the manager holds this profile now (None: offline)
    outcomes: list[OutcomeOut] = []


class TriggerBlock(Out):
    """One trigger (EventTrigger / EventBasedAddOn) and the EventSource it uses."""

    trigger: str
    kind: str
    event_source: str
    verdict: str  # fires | does not fire | unknown
    reason: str  # one line: why
    cluster_selected: bool
    cluster_reason: str
    one_for_event: bool
    evaluation: EvaluationOut | None = None
    instances: list[InstanceOut] = []
    errors: list[str] = []  # the trigger's current errors (manager status)


class Explanation(Out):
    """Why an object (or a CloudEvent) in a cluster fires, or does not."""

    mode: str  # offline | live
    cluster: str
    subject: str  # "apiVersion/Kind namespace/name", or "CloudEvent source/subject"
    verdict: str
    summary: str
    triggers: list[TriggerBlock] = []
    unused_event_sources: list[str] = []  # EventSources for the kind no trigger uses
    notes: list[str] = []


class Origin(Out):
    """One profile that deploys the object, and what made it."""

    profile: str
    trigger: str
    trigger_kind: str
    event_source: str
    source_cluster: str
    resource: str = ""  # the matching resource ("apiVersion/Kind namespace/name")
    resource_labels: dict[str, str] = {}
    cloud_event: str = ""  # "source/subject" of the CloudEvent that made it
    reference: str = ""  # the ConfigMap/Secret (or its instantiated copy) it comes from
    hash_matches: bool | None = None  # the object's hash is the one planned now
    destinations: list[str] = []
    outcome: OutcomeOut | None = None
    notes: list[str] = []


class Provenance(Out):
    """Why a deployed object is in a cluster."""

    mode: str
    cluster: str
    subject: str
    verdict: str  # found | not found
    summary: str
    origins: list[Origin] = []


def exit_code(answer: Explanation | Provenance) -> int:
    if isinstance(answer, Provenance):
        return EXIT_FIRES if answer.origins else EXIT_DOES_NOT_FIRE
    if answer.verdict == FIRES:
        return EXIT_FIRES
    return EXIT_UNKNOWN if answer.verdict == UNKNOWN else EXIT_DOES_NOT_FIRE
