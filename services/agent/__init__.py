"""Ripple agent."""
