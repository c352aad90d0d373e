"""Ripple reporter."""
