"""Ripple's NATS contract (a public API): subjects and keys, JetStream streams and KV
buckets, CloudEvents 1.0 envelopes and their JSON Schemas. See ``docs/nats-contract.md``."""
