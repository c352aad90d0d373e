"""Template engine: Go text/template (+ sprig and the Sveltos functions) and a Jinja2 flavour."""
