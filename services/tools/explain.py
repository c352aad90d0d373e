"""``ripple explain``: why did (or didn't) an object fire, and why is a deployed object here.

    ripple explain OBJECT.yaml --cluster NS/NAME [--offline DIR | --manager URL]
    ripple explain --kind K --name N [-n NS] [--api-version V] --cluster NS/NAME
                   [--kubeconfig F] [--offline DIR | --manager URL]
    ripple explain --cloud-event CE.json [--subject S] --cluster NS/NAME ...
    ripple explain --deployed (OBJECT.yaml | --kind ... --name ...) --cluster NS/NAME ...

The answer is computed by the engines and the planning code of the agents and the manager:
offline from a scenario directory (:mod:`services.tools.explain_offline`), or by the running
manager (``POST /v1/explain``, ``/v1/explain/deployed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from services.manager.explanations import Explanation, Provenance

# the exit codes (services.manager.explanations, imported when the command runs: --help fast)
EXIT_FIRES, EXIT_DOES_NOT_FIRE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2, 3, 4

HELP = (
    "Why did (or didn't) an object fire, and why is a deployed object here.\n\n"
    "For an object in a cluster (a file; read from the cluster with --kind/--name and "
    "--kubeconfig; or named with --kind/--name alone: then the agent's matching set decides) "
    "or a CloudEvent, answers for every trigger that could concern it: whether the trigger "
    "selects the cluster, which filter, CEL rule or Lua script decided and its message, the "
    "per-object error, the profiles it yields (names as the manager makes them), their "
    "destinations and, on the running system, each apply outcome with its time.\n\n"
    "With --deployed, the converse: from a deployed object back to its profile, trigger, "
    "EventSource, matching resource and source cluster.\n\n"
    "Offline (--offline DIR, a scenario directory: fleet.yaml, management/, cluster/, "
    "steps.yaml) nothing runs; otherwise the manager's REST API answers (--manager, "
    "RIPPLE_MANAGER_URL; --token, RIPPLE_API_TOKEN).\n\n"
    f"Exit codes: {EXIT_FIRES} it fires (--deployed: its origin is found); "
    f"{EXIT_DOES_NOT_FIRE} it does not fire (--deployed: no origin); {EXIT_USAGE} bad input "
    f"(file, option, unknown cluster); {EXIT_UNREACHABLE} the manager or the cluster cannot "
    f"be reached; {EXIT_UNKNOWN} unknown (an evaluation error, a matching set not known yet: "
    'never read as "no").'
)


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"ripple explain: {message}", err=True)
    return typer.Exit(code)


def _read(path: Path, base: Path | None) -> dict[str, Any]:
    """One object (YAML or JSON) from ``path`` (relative paths also tried under ``base``)."""
    import yaml

    from shared.api.yamlio import load_bounded

    if not path.is_file() and base is not None and (base / path).is_file():
        path = base / path
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in load_bounded(text, yaml.SafeLoader) if d is not None]
    except OSError as exc:
        raise _fail(EXIT_USAGE, f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise _fail(EXIT_USAGE, f"{path}: invalid YAML/JSON: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise _fail(EXIT_USAGE, f"{path}: expected one object, found {len(docs)} document(s)")
    return docs[0]


def _ref(api_version: str, kind: str, namespace: str, name: str) -> dict[str, str]:
    return {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}


def register(app: typer.Typer) -> None:
    @app.command("explain", help=HELP)
    def explain_cmd(
        target: Path | None = typer.Argument(
            None, help="The object (YAML/JSON file); with --deployed, the deployed object."
        ),
        cluster: str = typer.Option(
            ..., "--cluster", "-c", help="[TYPE:]NAMESPACE/NAME of the (registered) cluster."
        ),
        offline: Path | None = typer.Option(
            None, "--offline", help="Answer from a scenario directory, without a running system."
        ),
        kind: str = typer.Option("", "--kind", help="Name the object: its kind."),
        name: str = typer.Option("", "--name", help="Name the object: its name."),
        namespace: str = typer.Option(
            "", "--namespace", "-n", help="Its namespace (also for a file that sets none)."
        ),
        api_version: str = typer.Option("v1", "--api-version", help="Its apiVersion."),
        kubeconfig: Path | None = typer.Option(
            None, "--kubeconfig", help="Read the named object from this cluster."
        ),
        context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
        cloud_event: Path | None = typer.Option(
            None, "--cloud-event", help="Explain a CloudEvent (JSON/YAML file) instead."
        ),
        subject: str = typer.Option("", "--subject", help="NATS subject the CloudEvent came on."),
        deployed: bool = typer.Option(
            False, "--deployed", help="Why is this deployed object here (the converse)."
        ),
        trigger: str = typer.Option("", "--trigger", help="Only this trigger."),
        every: bool = typer.Option(
            False, "--all", help="Every trigger, not only those whose EventSource watches it."
        ),
        manager: str = typer.Option(
            "http://127.0.0.1:8080",
            "--manager",
            envvar="RIPPLE_MANAGER_URL",
            help="The manager's REST API.",
        ),
        token: str = typer.Option(
            "", "--token", envvar="RIPPLE_API_TOKEN", help="Its bearer token.", show_default=False
        ),
        output: str = typer.Option("text", "--output", "-o", help="text or json."),
    ) -> None:
        if output not in ("text", "json"):
            raise _fail(EXIT_USAGE, f"--output {output!r}: text or json")
        ref = _ref(api_version, kind, namespace, name) if kind or name else None
        if ref is not None and not (kind and name):
            raise _fail(EXIT_USAGE, "--kind and --name go together")
        given = [x for x in (target, ref, cloud_event) if x is not None]
        if len(given) != 1:
            raise _fail(EXIT_USAGE, "give one of: a file, --kind/--name, --cloud-event")
        if deployed and cloud_event is not None:
            raise _fail(EXIT_USAGE, "--deployed explains an object, not a CloudEvent")
        obj = _read(target, offline) if target is not None else None
        meta = obj.get("metadata") if obj is not None else None
        if namespace and isinstance(meta, dict) and not meta.get("namespace"):
            meta["namespace"] = namespace  # -n: where the object is (or would be) created
        ce = _read(cloud_event, offline) if cloud_event is not None else None
        if ref is not None and kubeconfig is not None:
            obj = _from_cluster(kubeconfig, context, ref)
        if offline is not None:
            answer = _offline(offline, cluster, obj, ref, ce, subject, deployed, trigger, every)
        else:
            request: dict[str, Any] = {"cluster": cluster, "trigger": trigger, "all": every}
            request |= {"object": obj} if obj is not None else {}
            request |= {"ref": ref} if obj is None and ref is not None else {}
            request |= {"cloudEvent": ce, "subject": subject} if ce is not None else {}
            answer = _live(manager, token, request, deployed)
        if output == "json":
            typer.echo(answer.model_dump_json(by_alias=True, indent=2))
        else:
            from services.tools.explain_text import render

            typer.echo(render(answer))
        from services.manager.explanations import exit_code

        raise typer.Exit(exit_code(answer))


def _from_cluster(kubeconfig: Path, context: str | None, ref: dict[str, str]) -> dict[str, Any]:
    from shared.kube import GVK, KubeClient, KubeError

    try:
        client = KubeClient(str(kubeconfig), context=context, name=str(kubeconfig))
    except Exception as exc:  # a kubeconfig that does not load
        raise _fail(EXIT_USAGE, f"{kubeconfig}: {exc}") from None
    try:
        found = client.get(
            GVK(ref["apiVersion"], ref["kind"]), ref["namespace"] or None, ref["name"]
        )
    except KubeError as exc:
        raise _fail(EXIT_UNREACHABLE, f"reading {ref['kind']} {ref['name']}: {exc}") from None
    finally:
        client.close()
    if found is None:
        where = f"{ref['namespace']}/" if ref["namespace"] else ""
        raise _fail(
            EXIT_DOES_NOT_FIRE, f"{ref['apiVersion']}/{ref['kind']} {where}{ref['name']} not found"
        )
    return found


def _offline(
    directory: Path,
    cluster: str,
    obj: dict[str, Any] | None,
    ref: dict[str, str] | None,
    ce: dict[str, Any] | None,
    subject: str,
    deployed: bool,
    trigger: str,
    every: bool,
) -> Explanation | Provenance:
    from services.manager.explaining import explain
    from services.manager.explainworld import Subject
    from services.manager.provenance import plan_all, provenance
    from services.tools.explain_offline import cluster_key, find_object, load_world
    from shared.api.vocabulary import ObjectKey
    from shared.errors import RippleError

    try:
        world = load_world(directory)
        key = cluster_key(world, cluster)
    except (RippleError, ValueError) as exc:
        raise _fail(EXIT_USAGE, str(exc)) from None
    if ce is not None:
        return explain(world, key, Subject(cloud_event=ce, nats_subject=subject), trigger, every)
    okey = ObjectKey.of(obj) if obj is not None else ObjectKey.from_reference(ref or {})
    if deployed:
        return provenance(world, key, okey, obj, plan_all(world))
    if obj is None:
        obj = find_object(world, key, okey)
        if obj is None:
            raise _fail(
                EXIT_USAGE,
                f"{okey} is not among the objects steps.yaml applies to {key} "
                "(give the object's file)",
            )
    return explain(world, key, Subject(okey, obj), trigger, every)


def _live(
    url: str, token: str, request: dict[str, Any], deployed: bool
) -> Explanation | Provenance:
    import urllib.error
    import urllib.request

    path = "/v1/explain/deployed" if deployed else "/v1/explain"
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        url.rstrip("/") + path, json.dumps(request).encode(), headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:2000]
        try:
            detail = json.dumps(json.loads(detail).get("detail"))
        except (ValueError, AttributeError):
            pass
        code = EXIT_UNREACHABLE if exc.code in (401, 403) or exc.code >= 500 else EXIT_USAGE
        raise _fail(code, f"{url}{path}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _fail(
            EXIT_UNREACHABLE, f"cannot reach the manager at {url} ({reason}); --manager?"
        ) from None
    from services.manager.explanations import Explanation, Provenance

    model = Provenance if deployed else Explanation
    return model.model_validate_json(body)
