"""``ripple demo``: the spec's story on the embedded default (local NATS + simulated fleet).

The story is the scenario folder ``examples/story`` (see its README.md); state, kubeconfigs and
logs go to ``.demo/`` in the repository (``--state-dir``), locked while the demo runs.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        once: bool = typer.Option(False, "--once", help="Run the story once and exit 0/1."),
        story: Path | None = typer.Option(
            None, "--story", help="Scenario folder to tell (default: examples/story)."
        ),
        state_dir: Path | None = typer.Option(
            None,
            "--state-dir",
            help="Kubeconfigs, logs and NATS store (default: .demo/ in the repository). One "
            "running demo per directory: a second demo on a directory in use is refused at "
            "once (exit 2, naming the other demo's pid); give it another directory.",
        ),
        timeout: float = typer.Option(10.0, "--timeout", help="Deadline of each expectation (s)."),
        ready_timeout: float = typer.Option(
            60.0, "--ready-timeout", help="Deadline for the stack to come up (s)."
        ),
        agents: str = typer.Option(
            "auto",
            "--agents",
            help="How agents run: 'process' (one ripple agent per cluster), 'hosted' (one "
            "ripple agent-host for every cluster) or 'auto' (hosted beyond 8 clusters).",
        ),
    ) -> None:
        """Run the spec's story end to end on the embedded default and show the latencies.

        Starts nats-server, the simulated fleet, the manager, the reporter and one agent per
        cluster; loads the examples; creates and deletes Services and prints what Ripple did
        and how fast. Then keeps running (kubectl, NATS and REST pointers are printed) until
        Ctrl-C or SIGTERM, unless --once. The state directory is locked while the demo runs
        (DIR/demo.lock); a lock left by a demo that was killed is taken over.

        Exit code: 0 when every step passed, 1 when one failed or the stack did not come up,
        2 when the story is invalid or the directory is in use (nothing started), 130 when
        interrupted before the story's end (what started is stopped).
        """
        from services.scenario import demo as story_demo
        from services.scenario.stackagents import AGENT_MODES

        if agents not in AGENT_MODES:
            raise typer.BadParameter(
                f"{agents!r}: expected one of {', '.join(AGENT_MODES)}", param_hint="--agents"
            )

        code = story_demo.run_demo(
            story=story or story_demo.STORY,
            state_dir=state_dir or story_demo.STATE_DIR,
            once=once,
            timeout=timeout,
            ready_timeout=ready_timeout,
            echo=typer.echo,
            agent_mode=agents,
        )
        raise typer.Exit(code)
