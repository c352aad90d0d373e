"""Scenario folders and steps parse into models; invalid files give precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.scenario.errors import ScenarioError
from services.scenario.model import (
    ApplyStep,
    DeleteStep,
    ExpectStep,
    LabelStep,
    ManageStep,
    load_scenario,
    parse_step,
    parse_steps,
)
from tests.paths import REPO, SCENARIOS

SHARED_SCENARIOS = sorted(p for p in SCENARIOS.iterdir() if (p / "steps.yaml").is_file())


@pytest.mark.parametrize("folder", SHARED_SCENARIOS, ids=lambda p: p.name)
def test_every_shared_scenario_loads(folder: Path) -> None:
    scenario = load_scenario(folder)
    assert scenario.steps
    assert [s.number for s in scenario.steps] == list(range(1, len(scenario.steps) + 1))
    assert any(s.is_expect for s in scenario.steps)


def test_the_story_example_loads() -> None:
    scenario = load_scenario(REPO / "examples" / "story")
    assert len(scenario.fleet.clusters) >= 2
    assert sum(1 for s in scenario.steps if s.is_expect) >= 5


def test_each_step_kind_parses() -> None:
    steps = parse_steps(
        {
            "steps": [
                {"apply": {"cluster": "default/a", "file": "cluster/x.yaml"}},
                {
                    "delete": {
                        "cluster": "default/a",
                        "apiVersion": "v1",
                        "kind": "Service",
                        "namespace": "eng",
                        "name": "x",
                    }
                },
                {"label": {"cluster": "default/a", "labels": {"env": None, "role": "hub"}}},
                {"manage": {"apply": "management/x.yaml"}},
                {"manage": {"delete": "management/x.yaml"}},
                {
                    "expect": {
                        "cluster": "default/a",
                        "present": ["expect/x.yaml"],
                        "absent": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}],
                    }
                },
            ]
        }
    )
    kinds = [type(s.action) for s in steps]
    assert kinds == [ApplyStep, DeleteStep, LabelStep, ManageStep, ManageStep, ExpectStep]
    delete = steps[1].action
    assert isinstance(delete, DeleteStep)
    assert str(delete.object) == "Service eng/x"
    label = steps[2].action
    assert isinstance(label, LabelStep)
    assert label.labels == {"env": None, "role": "hub"}
    assert label.describe() == "label default/a env- role=hub"
    manage = steps[4].action
    assert isinstance(manage, ManageStep)
    assert (manage.verb, manage.file) == ("delete", "management/x.yaml")
    expect = steps[5].action
    assert isinstance(expect, ExpectStep)
    assert expect.absent[0].namespace == ""


def test_expect_releases_parse() -> None:
    (step,) = parse_steps(
        {
            "steps": [
                {
                    "expect": {
                        "cluster": "default/a",
                        "releases": [
                            {
                                "namespace": "kyverno",
                                "name": "kyverno-latest",
                                "status": "deployed",
                                "revision": 2,
                                "chartVersion": "2.6.0",
                            }
                        ],
                        "absentReleases": [{"namespace": "kyverno", "name": "old"}],
                    }
                }
            ]
        }
    )
    expect = step.action
    assert isinstance(expect, ExpectStep)
    (release,) = expect.releases
    assert (release.status, release.revision, release.chart_version) == ("deployed", 2, "2.6.0")
    assert release.chart is None
    assert [str(r) for r in expect.absent_releases] == ["Helm release kyverno/old"]
    assert step.describe() == (
        "expect in default/a: release kyverno/kyverno-latest; no release kyverno/old"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"aply": {"cluster": "d/a", "file": "f"}}, "step 2: unknown step 'aply'"),
        ("apply", "step 2: a step is a mapping with exactly one key"),
        (
            {"apply": {"cluster": "d/a", "file": "f"}, "expect": {}},
            "step 2: a step is a mapping with exactly one key",
        ),
        ({"apply": ["cluster"]}, "step 2 (apply): expected a mapping, got list"),
        ({"apply": {"cluster": "d/a"}}, "step 2 (apply): file: Field required"),
        (
            {"apply": {"cluster": "cluster-a", "file": "f"}},
            "step 2 (apply): cluster: must be NAMESPACE/NAME, got 'cluster-a'",
        ),
        (
            {"apply": {"cluster": "d/a", "file": "f", "wait": True}},
            "step 2 (apply): wait: Extra inputs are not permitted",
        ),
        (
            {"delete": {"cluster": "d/a", "kind": "Service", "name": "x"}},
            "step 2 (delete): apiVersion: Field required",
        ),
        ({"label": {"cluster": "d/a", "labels": {}}}, "step 2 (label): labels:"),
        ({"label": {"cluster": "d/a", "labels": {"env": 3}}}, "step 2 (label): labels.env"),
        (
            {"manage": {"apply": "a.yaml", "delete": "a.yaml"}},
            "step 2 (manage): manage needs exactly one of 'apply' or 'delete'",
        ),
        ({"manage": {}}, "step 2 (manage): manage needs exactly one of 'apply' or 'delete'"),
        (
            {"expect": {"cluster": "d/a"}},
            "step 2 (expect): expect needs 'present', 'absent', 'releases' or 'absentReleases'",
        ),
        (
            {
                "expect": {
                    "cluster": "d/a",
                    "releases": [{"namespace": "k", "name": "r", "status": "ok"}],
                }
            },
            "step 2 (expect): releases.0.status: unknown Helm status 'ok'",
        ),
        (
            {"expect": {"cluster": "d/a", "releases": [{"name": "r"}]}},
            "step 2 (expect): releases.0.namespace: Field required",
        ),
        (
            {
                "expect": {
                    "cluster": "d/a",
                    "releases": [{"namespace": "k", "name": "r", "chartVersion": 1.1}],
                }
            },
            "step 2 (expect): releases.0.chartVersion: write the version as a string",
        ),
        (
            {
                "expect": {
                    "cluster": "d/a",
                    "absentReleases": [{"namespace": "k", "name": "r", "revision": 1}],
                }
            },
            "step 2 (expect): absentReleases.0.revision: Extra inputs are not permitted",
        ),
        (
            {
                "expect": {
                    "cluster": "d/a",
                    "releases": [{"namespace": "k", "name": "r"}],
                    "absentReleases": [{"namespace": "k", "name": "r"}],
                }
            },
            "step 2 (expect): release k/r is named more than once",
        ),
        (
            {"expect": {"cluster": "d/a", "absent": [{"kind": "X", "name": "y"}]}},
            "step 2 (expect): absent.0.apiVersion: Field required",
        ),
        (
            {"expect": {"cluster": "d/a", "present": "expect/x.yaml"}},
            "step 2 (expect): present: Input should be a valid list",
        ),
    ],
)
def test_invalid_steps_name_step_and_field(raw: object, message: str) -> None:
    document = {"steps": [{"apply": {"cluster": "d/a", "file": "ok.yaml"}}, raw]}
    with pytest.raises(ScenarioError) as err:
        parse_steps(document, "s/steps.yaml")
    assert str(err.value).startswith("s/steps.yaml: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "expected a mapping with a 'steps' list"),
        ([], "expected a mapping with a 'steps' list"),
        ({"steps": []}, "'steps' must be a non-empty list"),
        ({"steps": [], "extra": 1}, "unknown top-level key(s) ['extra']"),
    ],
)
def test_invalid_steps_documents(document: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=r"steps\.yaml: ") as err:
        parse_steps(document)
    assert message in str(err.value)


def test_parse_step_numbers_from_one() -> None:
    step = parse_step({"manage": {"apply": "m.yaml"}}, 7)
    assert step.number == 7
    assert step.describe() == "manage apply m.yaml"


def _scenario(tmp_path: Path, steps: str, fleet: str | None = None) -> Path:
    (tmp_path / "fleet.yaml").write_text(
        fleet
        or "clusters:\n- {namespace: default, name: cluster-a, type: sveltos, labels: {env: fv}}\n"
    )
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"
    )
    (tmp_path / "steps.yaml").write_text(steps)
    return tmp_path


def test_unknown_cluster_is_reported_with_the_known_ones(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path, "steps:\n- apply: {cluster: default/cluster-z, file: cluster/svc.yaml}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(folder)
    assert "step 1 (apply): cluster 'default/cluster-z' is not in fleet.yaml" in str(err.value)
    assert "default/cluster-a" in str(err.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path,
        "steps:\n- expect: {cluster: default/cluster-a, present: [expect/nope.yaml]}\n",
    )
    with pytest.raises(ScenarioError, match=r"step 1 \(expect\): file expect/nope.yaml does not"):
        load_scenario(folder)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    folder = _scenario(tmp_path, "steps:\n- apply: {cluster: default/cluster-a, file: [\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(folder)
    assert "steps.yaml: invalid YAML" in str(err.value)
    assert "line" in str(err.value)


def test_object_file_without_name_is_reported(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path, "steps:\n- apply: {cluster: default/cluster-a, file: cluster/svc.yaml}\n"
    )
    (folder / "cluster" / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {}\n")
    with pytest.raises(ScenarioError, match=r"document 1: metadata\.name is missing"):
        load_scenario(folder)


def test_invalid_fleet(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path,
        "steps:\n- apply: {cluster: default/cluster-a, file: cluster/svc.yaml}\n",
        fleet="clusters:\n- {name: a, type: kind}\n",
    )
    with pytest.raises(ScenarioError, match=r"fleet.yaml: clusters.0.type: Input should be"):
        load_scenario(folder)


def test_duplicate_cluster_in_fleet(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path,
        "steps:\n- apply: {cluster: default/a, file: cluster/svc.yaml}\n",
        fleet="clusters:\n- {name: a}\n- {name: a, namespace: default}\n",
    )
    with pytest.raises(ScenarioError, match="cluster default/a is listed twice"):
        load_scenario(folder)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not a scenario folder"):
        load_scenario(tmp_path / "missing")
    with pytest.raises(ScenarioError, match=r"fleet\.yaml is missing"):
        load_scenario(tmp_path)


_ADDON = """apiVersion: lib.projectsveltos.io/v1alpha1
kind: EventBasedAddOn
metadata: {name: kyverno}
spec:
  helmCharts:
  - {repositoryURL: "${CHARTS_URL}", repositoryName: k, chartName: k/k, chartVersion: 1.0.0,
     releaseName: k, releaseNamespace: k}
"""


def test_charts_url_without_charts_is_an_error_at_load_time(tmp_path: Path) -> None:
    folder = _scenario(
        tmp_path, "steps:\n- apply: {cluster: default/cluster-a, file: cluster/svc.yaml}\n"
    )
    (folder / "management").mkdir()
    (folder / "management" / "kyverno.yaml").write_text(_ADDON)
    with pytest.raises(ScenarioError) as err:
        load_scenario(folder)
    assert str(err.value) == (
        f"{folder / 'management' / 'kyverno.yaml'}: EventBasedAddOn kyverno uses ${{CHARTS_URL}}, "
        f"but the scenario serves no chart ({folder / 'charts'} is missing or empty)"
    )
    (folder / "charts" / "k").mkdir(parents=True)
    (folder / "charts" / "k" / "Chart.yaml").write_text("apiVersion: v2\nname: k\nversion: 1.0.0\n")
    assert load_scenario(folder).charts_dir == folder.resolve() / "charts"


def test_charts_url_in_a_manage_step_without_charts(tmp_path: Path) -> None:
    folder = _scenario(tmp_path, "steps:\n- manage: {apply: later/kyverno.yaml}\n")
    (folder / "later").mkdir()
    (folder / "later" / "kyverno.yaml").write_text(_ADDON)
    with pytest.raises(
        ScenarioError, match=r"step 1 \(manage\) later/kyverno.yaml: EventBasedAddOn"
    ):
        load_scenario(folder)


# -- our extension: definitions' status, for, confirm-withdrawal --------------------------------
def test_definition_expectations_for_and_confirm_withdrawal_parse() -> None:
    held = {"contains": "withdrawal of 8 of 8 instances held"}
    steps = parse_steps(
        {
            "steps": [
                {"expect": {"definition": {"name": "web"}, "failureMessage": held}},
                {
                    "expect": {
                        "definition": {"kind": "EventBasedAddOn", "name": "w"},
                        "failureMessage": None,
                    }
                },
                {"expect": {"cluster": "d/a", "present": ["p.yaml"], "for": 3}},
                {
                    "expect": {
                        "cluster": "d/a",
                        "absent": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}],
                        "definition": {"name": "web"},
                        "failureMessage": {"equals": "boom"},
                        "for": 0.5,
                    }
                },
                {"confirm-withdrawal": {"trigger": "web"}},
            ]
        }
    )
    first, cleared, lasting, both, confirm = (s.action for s in steps)
    assert isinstance(first, ExpectStep) and first.cluster is None and first.for_ is None
    assert first.definition is not None and first.definition.kind == "EventTrigger"
    assert first.failure_message is not None and first.failure_message.contains == held["contains"]
    assert first.describe() == (
        "expect EventTrigger web: failureMessage contains 'withdrawal of 8 of 8 instances held'"
    )
    assert isinstance(cleared, ExpectStep) and cleared.failure_message is None
    assert cleared.describe() == "expect EventBasedAddOn w: failureMessage is cleared"
    assert isinstance(lasting, ExpectStep) and lasting.for_ == 3.0
    assert lasting.describe() == "expect in d/a: present p.yaml (for 3 s)"
    assert both.describe() == (
        "expect in d/a: absent ConfigMap x; EventTrigger web: failureMessage is 'boom' (for 0.5 s)"
    )
    assert steps[4].kind == "confirm-withdrawal" and not steps[4].is_expect
    assert confirm.describe() == "confirm the withdrawal held for EventTrigger web"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"expect": {"definition": {"name": "web"}}},
            "step 2 (expect): 'definition' needs 'failureMessage' ({contains: TEXT} or null)",
        ),
        (
            {"expect": {"failureMessage": None}},
            "step 2 (expect): expect needs 'present', 'absent', 'releases' or 'absentReleases' "
            "(with 'cluster'), or 'definition'",
        ),
        (
            {"expect": {"cluster": "d/a", "present": ["p"], "failureMessage": None}},
            "step 2 (expect): 'failureMessage' needs 'definition' ({kind, name})",
        ),
        (
            {"expect": {"present": ["p.yaml"]}},
            "step 2 (expect): expect needs 'cluster' for 'present', 'absent' and releases",
        ),
        (
            {
                "expect": {
                    "definition": {"kind": "EventSource", "name": "s"},
                    "failureMessage": None,
                }
            },
            "step 2 (expect): definition.kind: Input should be 'EventTrigger' or 'EventBasedAddOn'",
        ),
        (
            {"expect": {"definition": {"name": "w"}, "failureMessage": {}}},
            "failureMessage needs exactly one of 'contains' or 'equals' (or null)",
        ),
        (
            {
                "expect": {
                    "definition": {"name": "w"},
                    "failureMessage": {"contains": "a", "equals": "a"},
                }
            },
            "failureMessage needs exactly one of 'contains' or 'equals' (or null)",
        ),
        (
            {"expect": {"definition": {"name": "w"}, "failureMessage": "held"}},
            "step 2 (expect): failureMessage: Input should be a valid dictionary",
        ),
        (
            {"expect": {"cluster": "d/a", "present": ["p"], "for": 0}},
            "step 2 (expect): for: Input should be greater than 0",
        ),
        (
            {"expect": {"cluster": "d/a", "present": ["p"], "for": 600}},
            "step 2 (expect): for: Input should be less than or equal to 120",
        ),
        ({"confirm-withdrawal": {}}, "step 2 (confirm-withdrawal): trigger: Field required"),
        (
            {"confirm-withdrawal": {"trigger": "w", "token": "abc"}},
            "step 2 (confirm-withdrawal): token: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_extension_steps_name_step_and_field(raw: object, message: str) -> None:
    document = {"steps": [{"apply": {"cluster": "d/a", "file": "ok.yaml"}}, raw]}
    with pytest.raises(ScenarioError) as err:
        parse_steps(document, "s/steps.yaml")
    assert message in str(err.value)


def test_the_withdrawal_guard_scenario_loads() -> None:
    scenario = load_scenario(Path(__file__).parent / "scenarios" / "withdrawal-guard")
    kinds = [s.kind for s in scenario.steps]
    assert kinds.count("confirm-withdrawal") == 1 and len(scenario.fleet.clusters) == 2
