"""The scenario runner: the format of ``../shared/scenarios/README.md`` on the embedded default.

Layers (pure first): :mod:`.model` (folder and step parsing), :mod:`.compare` (subset
comparison), :mod:`.report` (text and summaries); then I/O: :mod:`.processes` (child
processes), :mod:`.stack` (NATS + fleet + registrations + services), :mod:`.steps` (step
execution), :mod:`.runner` (whole scenarios). ``ripple scenario`` and ``ripple demo`` are thin
CLIs over these (``services/tools/scenario.py``, ``services/tools/demo.py``).
"""
