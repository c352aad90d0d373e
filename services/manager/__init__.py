"""Ripple manager."""
