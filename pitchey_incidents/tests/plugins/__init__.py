"""A small plug-in family for the registry's tests: ``base`` declares it, ``first`` and ``second`` fill it."""
