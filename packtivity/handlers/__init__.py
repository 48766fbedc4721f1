"""The original's handler registries, one module per kind.

``process_handlers.handlers`` (process type -> job), ``environment_handlers.handlers``
(environment type -> prepared environment), ``execution_handlers.handlers`` (environment type ->
how to run a job in it), ``publisher_handlers.handlers`` (publisher type -> result JSON).
A plugin registers a new type with the module's decorator (``@process``, ``@environment``,
``@executor``, ``@publisher``) and is imported through ``PACKTIVITY_PLUGINS``.
"""
