"""Ripple tools."""
