"""Ripple's shared library: API models, the NATS contract, evaluation and template engines,
Kubernetes access. Pure library code: it never imports a service."""
