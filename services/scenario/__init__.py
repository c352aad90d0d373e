"""Ripple scenario."""
