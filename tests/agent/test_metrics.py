"""The agent's Prometheus metrics: names, kinds and the exposition format."""

from services.agent.service import Agent
from shared.contract.subjects import ClusterRef
from shared.metrics import exposition


def test_agent_metrics_exposition() -> None:
    agent = Agent(ClusterRef(namespace="default", name="a"), None, "nats://127.0.0.1:1")
    agent.counts["reports"] = 3
    text = exposition("ripple_agent", agent.metrics).decode()
    assert "# TYPE ripple_agent_reports_published_total counter" in text
    assert "ripple_agent_reports_published_total 3.0" in text
    assert "# TYPE ripple_agent_evaluation_errors gauge" in text
