from pitchey_incidents.registry import Registry


class Gadget:
    name = ""
    built = 0  # instances built, across the family

    def __init__(self) -> None:
        Gadget.built += 1


REGISTRY: Registry[Gadget] = Registry("gadget", package=__package__, modules=("first", "second"))
register = REGISTRY.register
