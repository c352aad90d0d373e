"""The service runtime: one life cycle for agent, manager and reporter.

- :mod:`shared.runtime.workqueue`: client-go's work queue semantics for side effects;
- :mod:`shared.runtime.settings`: typed settings (pydantic-settings, ``RIPPLE_`` prefix);
- :mod:`shared.runtime.service`: signals, ready file, NATS connection with the service's
  credentials, non-zero exit when a task crashes;
- :mod:`shared.runtime.observability`: loop lag, the runtime's own metrics, tracing, the probe
  server;
- :mod:`shared.runtime.slicing`: bounded slices of CPU work on the event loop.
"""
