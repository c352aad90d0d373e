"""The NATS side of a :class:`services.scenario.stack.Stack`: nats-server (with authorization
unless ``secure`` is false), its users, URLs and the services' NATS environment.

A secure stack generates a password per user at every start (:mod:`services.scenario.
credentials`): ``admin`` (everything; :attr:`StackNats.nats_url` carries it for tools and
tests), ``manager``, ``reporter`` and one user per cluster's agent. The passwords are in
``<state_dir>/nats/credentials.json`` and in nats-server's configuration file, both readable
by their owner only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from services.scenario.credentials import Credential, NatsCredentials, cluster_ref, service_env
from services.scenario.errors import StackError
from services.scenario.model import Fleet
from services.scenario.processes import tail

if TYPE_CHECKING:
    from shared.bus.embedded import EmbeddedNats


class StackNats:
    """Mixin of :class:`~services.scenario.stack.Stack` (see the module doc)."""

    state_dir: Path
    fleet: Fleet
    secure: bool
    credentials: NatsCredentials | None
    nats: EmbeddedNats | None

    @property
    def nats_url(self) -> str:
        """The URL tools and tests connect with: the ``admin`` user's credentials inside
        (``nats://admin:<password>@127.0.0.1:<port>``) when the stack is secure."""
        url = self.nats_server_url
        return self.credentials.admin.url(url) if self.credentials else url

    @property
    def nats_server_url(self) -> str:
        """``nats://127.0.0.1:<port>``, without credentials."""
        if self.nats is None:
            raise StackError("the stack is not started")
        return self.nats.url

    @property
    def credentials_file(self) -> Path:
        """Where a secure stack keeps its NATS users and passwords (mode 0600)."""
        return self.state_dir / "nats" / "credentials.json"

    def nats_credential(self, who: str) -> Credential:
        """The NATS user of ``"admin"``, ``"manager"``, ``"reporter"`` or of the agent of a
        cluster ``"NS/NAME"`` (a secure stack only)."""
        if self.credentials is None:
            raise StackError("the stack runs nats-server without authorization")
        if "/" in who:
            return self.credentials.agent(cluster_ref(self.fleet.cluster(who)))
        return self.credentials.user(who)

    def nats_env(self) -> dict[str, dict[str, str]]:
        """The NATS environment of each service process, by process name (empty when the
        stack is not secure)."""
        return service_env(self.credentials, self.fleet, self.nats_server_url)

    def _start_nats(self) -> None:
        from shared.bus.embedded import EmbeddedNats

        extra = ""
        self.credentials = None
        if self.secure:
            refs = [cluster_ref(c) for c in self.fleet.clusters]
            self.credentials = NatsCredentials.generate(refs)
            extra = self.credentials.authorization_block()
        self.nats = EmbeddedNats(self.state_dir / "nats", extra_config=extra)
        try:
            self.nats.start()
            if self.credentials is not None:
                self.credentials.write(self.credentials_file, self.nats.url)
        except Exception as err:
            raise StackError(
                f"nats-server did not start: {err}",
                logs=f"--- {self.nats.log_path} ---\n{tail(self.nats.log_path)}",
            ) from err
