"""Alternative data model implementations (``PACKTIVITY_DATAMODEL_IMPL``)."""
