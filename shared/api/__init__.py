"""Pydantic v2 models of the Sveltos event-framework API, YAML loading and label selectors.

Modules: ``meta`` (ObjectMeta, base config), ``selectors``, ``eventsource``, ``eventtrigger``,
``eventreport``, ``clusterprofile``, ``cluster``, ``loading``, ``crds``, ``errors``.
"""
