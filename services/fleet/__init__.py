"""Ripple fleet."""
