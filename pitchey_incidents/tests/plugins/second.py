from .base import Gadget, register


@register
class Crate(Gadget):
    name = "crate"
