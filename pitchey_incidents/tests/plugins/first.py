from .base import Gadget, register


@register
class Anvil(Gadget):
    name = "anvil"


@register
class Bolt(Gadget):
    name = "bolt"
