"""Ripple's services (agent, manager, reporter, simulated fleet) and command-line tools."""
