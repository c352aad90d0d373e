"""Pydantic v2 models of the Sveltos event-framework API, YAML loading and label selectors.

Modules (by role):

* ``vocabulary``: the one catalogue of Sveltos' names (kinds as GVK pairs, label keys,
  annotations, cluster types) and the plain identities ObjectKey / ClusterKey; standard
  library only, so every layer imports it;
* ``meta``: base model config (snake_case attributes, camelCase aliases, unknown fields are
  errors), ObjectMeta, ObjectReference, TypedObject;
* ``selectors``: LabelSelector (metav1 semantics), selector strings;
* ``eventsource``: EventSource (v1alpha1 flat / script forms normalised), LabelFilter;
* ``eventtrigger``: EventTrigger (v1beta1), EventBasedAddOn (v1alpha1), ``check_update``;
* ``addons``: policyRefs, helmCharts, kustomizationRefs, generators, copied profile fields;
* ``eventreport``: EventReport, report names and labels, ``spec.resources`` bytes;
* ``clusterprofile``: ClusterProfile and the labels of generated objects;
* ``cluster``: registered clusters, cluster type spellings, fleet.yaml;
* ``core``: ConfigMap, Secret, any other object;
* ``loading`` / ``yamlio`` / ``validation``: files to models, errors naming
  file/object/field/line;
* ``crds``: the CustomResourceDefinitions (package data);
* ``errors``: DefinitionError, InvalidSelector, ImmutableFieldError.
"""
