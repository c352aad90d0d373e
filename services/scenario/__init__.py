"""The scenario runner: the format of ``../shared/scenarios/README.md`` on the embedded default.

Layers, pure first: :mod:`.model` (folder and step parsing), :mod:`.files` (reading YAML),
:mod:`.compare` (subset comparison), :mod:`.releases` (Helm release expectations and Helm's
storage), :mod:`.results` and :mod:`.report` (results, text and summaries), :mod:`.commands`
(child command lines), :mod:`.kinds` (kinds and fallback CRDs); then I/O: :mod:`.processes`
(child processes), :mod:`.provision` (CRDs, namespaces, registrations, definitions),
:mod:`.charts` (a scenario's charts served over loopback HTTP), :mod:`.stack` (NATS + fleet +
services for one fleet), :mod:`.steps` (step execution), :mod:`.runner` (whole scenarios),
:mod:`.demo` (the story), :mod:`.subscribe` (print NATS messages). ``ripple scenario`` and
``ripple demo`` are thin CLIs over these (``services/tools/scenario.py``, ``.../demo.py``).
"""
