"""Tests of the template engine (Go text/template port, Jinja2 flavour, ripple render)."""
