"""``ripple demo``: the story of spec/event-framework.txt, told on the embedded default.

The story is an ordinary scenario folder (``examples/story``); the demo brings its stack up
in a fixed state directory (``.demo/`` in the repository), runs its steps printing what
happened and how long it took, then (unless ``once``) keeps everything running and prints how
to look around until Ctrl-C or SIGTERM.

:func:`chapters` (pure) turns the comment lines of ``steps.yaml`` that precede a step into the
headings printed before it.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from services.scenario import statelock
from services.scenario.errors import ScenarioError, StackError
from services.scenario.model import MANAGEMENT, load_scenario, read_objects, yaml_files
from services.scenario.report import FAIL, PASS, narrative_lines, percentile, tally
from services.scenario.stack import Stack
from services.scenario.steps import StepResult
from shared.kube import KubeError

REPO = Path(__file__).resolve().parent.parent.parent
STORY = REPO / "examples" / "story"
STATE_DIR = REPO / ".demo"

_STEP_LINE = re.compile(r"^-\s+(apply|delete|label|manage|expect)\s*:")


def chapters(steps_yaml: str) -> dict[int, list[str]]:
    """Comment lines directly above a top-level step, by step number (1-based)."""
    out: dict[int, list[str]] = {}
    pending: list[str] = []
    number = 0
    for raw in steps_yaml.splitlines():
        line = raw.rstrip()
        if line.startswith("#"):
            pending.append(line.lstrip("#").strip())
        elif _STEP_LINE.match(line):
            number += 1
            if pending:
                out[number] = pending
            pending = []
        elif line.strip() and not line.startswith(" "):
            pending = []
    return out


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def look_around(stack: Stack) -> list[str]:
    """How to inspect the running demo: kubectl, NATS, REST, logs."""
    kubectl = Path(sys.executable).parent / "kubectl"
    k = _rel(kubectl) if kubectl.exists() else "kubectl"
    first = stack.fleet.clusters[0].ref
    try:
        from shared.contract.subjects import EVENTS_ROOT, ROOT
    except ImportError:  # pragma: no cover - the contract module is part of the project
        ROOT, EVENTS_ROOT = "ripple.v1", "ripple.v1.events"
    lines = ["", "Look around (Ctrl-C stops everything):", "", "  kubectl:"]
    for cluster in stack.fleet.clusters:
        kc = _rel(stack.kubeconfig(cluster.ref))
        lines.append(
            f"    {k} --kubeconfig {kc} get services,networkpolicies,ingresses,httproutes -A"
        )
    mgmt = _rel(stack.kubeconfig(MANAGEMENT))
    lines += [
        f"    {k} --kubeconfig {mgmt} get "
        "sveltosclusters,eventsources,eventbasedaddons,eventreports,clusterprofiles -A",
        "",
        "  the Helm release kyverno/kyverno-latest (where a selected cluster has a labelled "
        "Service; Helm keeps it in Secrets, the ClusterProfile lists the chart):",
    ]
    for cluster in stack.fleet.clusters:
        kc = _rel(stack.kubeconfig(cluster.ref))
        lines.append(f"    {k} --kubeconfig {kc} get secrets -n kyverno -l owner=helm")
    lines.append(f"    {k} --kubeconfig {mgmt} get clusterprofile -o yaml")
    if stack.charts_url:
        lines.append(f"    the charts: {stack.charts_url}/index.yaml")
    lines += [
        "",
        "  try it (a labelled Service gets its NetworkPolicy, and Kyverno comes back):",
        f"    {k} --kubeconfig {_rel(stack.kubeconfig(first))} apply --server-side "
        f"-f {_rel(STORY / 'cluster' / 'another-service.yaml')}",
        "",
        f"  NATS: {stack.nats_server_url}  — every subject is under {ROOT}.> ; "
        f"per-change events: {EVENTS_ROOT}.>",
    ]
    if stack.credentials is not None:
        creds = _rel(stack.credentials_file)
        lines += [
            f"    authorization is on: users and passwords in {creds} (mode 0600);",
            "    tools use the admin user (its URL is admin_url there; the nats CLI: "
            "--user admin --password <its password>)",
            f"    {_rel(Path(sys.executable))} -m services.scenario.subscribe {creds} "
            f"'{EVENTS_ROOT}.>'",
        ]
    else:
        lines.append(
            f"    {_rel(Path(sys.executable))} -m services.scenario.subscribe "
            f"{stack.nats_server_url} '{EVENTS_ROOT}.>'"
        )
    if stack.rest_url:
        lines += ["", f"  REST: {stack.rest_url}  (Swagger UI: {stack.rest_url}/docs)"]
        lines += [f"    curl {stack.rest_url}{path}" for path in _rest_paths(stack.rest_url)]
        ripple = _rel(Path(sys.executable).with_name("ripple"))
        lines += [
            "",
            "  why did (or didn't) it fire, and why is a deployed object there (docs/explain.md):",
            f"    {ripple} explain --kind Service --name my-service -n default "
            f"-c {first} --kubeconfig {_rel(stack.kubeconfig(first))} --manager {stack.rest_url}",
            f"    {ripple} explain --deployed --kind NetworkPolicy --api-version "
            f"networking.k8s.io/v1 --name front-my-service -n default -c {first} "
            f"--kubeconfig {_rel(stack.kubeconfig(first))} --manager {stack.rest_url}",
        ]
    lines += ["", f"  logs: {_rel(stack.log_dir)}/", ""]
    return lines


def _rest_paths(base: str) -> list[str]:
    """The GET paths without parameters the REST API documents (``/openapi.json``)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=2) as resp:
            spec = json.loads(resp.read())
        paths = [p for p, ops in spec.get("paths", {}).items() if "get" in ops and "{" not in p]
    except (OSError, ValueError):
        paths = []
    return sorted(paths) or ["/healthz"]


def management_summary(stack: Stack) -> list[str]:
    """What the management cluster holds now (EventReports from the reporter, ClusterProfiles)."""
    from shared.api.vocabulary import EVENT_REPORT
    from shared.kube import GVK, KubeError

    lines = []
    for kind, versions in ((EVENT_REPORT.kind, ("v1beta1", "v1alpha1")),):
        for version in versions:
            gvk = GVK(*EVENT_REPORT.at(version))
            try:
                items, _ = stack.management.list(gvk)
            except KubeError:
                continue
            names = ", ".join(sorted(o["metadata"]["name"] for o in items)) or "none"
            lines.append(f"  {len(items)} {kind}s in the management cluster: {names}")
            break
    return lines


def _definitions(stack: Stack) -> list[str]:
    lines = []
    for file in yaml_files(stack.management_dir) if stack.management_dir else []:
        objects = read_objects(file)
        names = ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in objects)
        lines.append(f"  {_rel(file)}: {names}")
    return lines


def _wait_for_signal(stack: Stack, echo: Callable[[str], None]) -> None:
    """Until SIGINT/SIGTERM; says so (once) when a child process dies meanwhile."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    reported: set[str] = set()
    try:
        while not stop.wait(1.0):
            for proc in stack.dead_processes():
                if proc.name not in reported:
                    reported.add(proc.name)
                    echo(
                        f"{FAIL} {proc.name} exited with code {proc.returncode}; "
                        f"log {_rel(proc.log_path)}"
                    )
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _agents(count: int) -> str:
    return f"{count} agent" + ("" if count == 1 else "s")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM while starting: stop what started, as Ctrl-C does


def run_demo(
    *,
    story: Path = STORY,
    state_dir: Path = STATE_DIR,
    once: bool = False,
    timeout: float = 10.0,
    ready_timeout: float = 60.0,
    echo: Callable[[str], None] = print,
    services: bool = True,
    agent_mode: str = "auto",
) -> int:
    """Tell the story; returns the exit code (0 when every step passed; 2 when the story is
        invalid or ``state_dir`` is held by another running demo: nothing was started; 130 when
        interrupted). ``state_dir`` is locked for the whole run (:mod:`statelock`). ``agent_mode``
    as for :class:`Stack`."""
    lock = statelock.StateLock(state_dir)
    try:
        previous = lock.acquire()
    except StackError as err:
        echo(f"{FAIL} {err}")
        return 2
    handle_term = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _interrupt) if handle_term else None
    try:
        if previous:
            echo(
                f"(taking {_rel(state_dir)}/ over from a demo that is gone: "
                f"{statelock.describe(previous)})"
            )
        return _tell(story, state_dir, once, timeout, ready_timeout, echo, services, agent_mode)
    except KeyboardInterrupt:
        echo("interrupted; stopped.")
        return 130
    finally:
        if handle_term:
            signal.signal(signal.SIGTERM, before)
        lock.release()


def _tell(
    story: Path,
    state_dir: Path,
    once: bool,
    timeout: float,
    ready_timeout: float,
    echo: Callable[[str], None],
    services: bool,
    agent_mode: str = "auto",
) -> int:
    try:
        scenario = load_scenario(story)
    except ScenarioError as err:
        echo(f"{FAIL} {err}")
        return 2
    headings = chapters((story / "steps.yaml").read_text(encoding="utf-8"))
    names = ", ".join(c.name for c in scenario.fleet.clusters)
    echo("Ripple demo — the event framework story of spec/event-framework.txt")
    echo(
        f"Starting nats-server, the simulated fleet (management, {names})"
        + (
            f", the manager, the reporter and {_agents(len(scenario.fleet.clusters))}"
            if services
            else ""
        )
        + f" in {_rel(state_dir)}/ ..."
    )
    started = time.monotonic()
    stack = Stack(
        scenario.fleet,
        scenario.management_dir,
        crds_dir=scenario.crds_dir,
        charts_dir=scenario.charts_dir,
        state_dir=state_dir,
        services=services,
        ready_timeout=ready_timeout,
        agent_mode=agent_mode,
    )
    results: list[StepResult] = []
    try:
        with stack:
            echo(f"{PASS} everything is up in {time.monotonic() - started:.1f} s")
            echo("Definitions loaded into the management cluster:")
            for line in _definitions(stack):
                echo(line)

            def show(result: StepResult) -> None:
                heading = headings.get(result.number, [])
                if heading:
                    echo("")
                for line in heading:
                    echo(line)
                for line in narrative_lines(result):
                    echo(line)

            results = stack.run_steps(
                scenario.steps, scenario.path, timeout=timeout, on_result=show
            )
            passed = sum(1 for r in results if r.ok)
            failed = len(results) - passed
            latencies = [r.latency_ms for r in results if r.measures_change and r.latency_ms]
            echo("")
            if latencies:
                echo(
                    f"Event to add-on, as seen from kubectl: p50 {percentile(latencies, 50):.0f} ms, "
                    f"max {max(latencies):.0f} ms over {len(latencies)} changes"
                )
            if failed:
                stack.failed = True
                echo(f"{FAIL} the story did not go as written; logs in {_rel(stack.log_dir)}/")
                for result in results:
                    if not result.ok and result.logs:
                        for line in result.logs.splitlines():
                            echo(f"    | {line}")
                        break
            for line in management_summary(stack):
                echo(line)
            echo(tally(passed, failed))
            if not once:
                for line in look_around(stack):
                    echo(line)
                _wait_for_signal(stack, echo)
                echo("stopping ...")
    except (StackError, KubeError) as err:
        echo(f"{FAIL} the stack did not come up: {err}")
        logs = getattr(err, "logs", "")
        if not logs:
            echo(stack.log_tails())
        echo(tally(0, len(scenario.steps)))
        return 1
    echo("stopped.")
    return 0 if results and all(r.ok for r in results) else 1
