"""Clean text in, safe text out.

Input: every text a client sends (API bodies, page forms, alert deliveries) loses its C0 control
characters except tab and newline; carriage returns become newlines (a browser's textarea sends
CRLF), and lone surrogates (which PostgreSQL cannot store) go too. Output: ``xml_safe`` drops what
XML 1.0 cannot carry, so text already stored (written before this cleaning, or straight into the
database) can never make the Atom feed fail.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls other than tab (09) and newline (0A), and UTF-16 surrogates (only ever lone in a str).
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
# What XML 1.0 allows: tab, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def strip_controls(text: str) -> str:
    """``text`` with CRLF and CR as LF, and without the other C0 controls or lone surrogates."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNWANTED.sub("", text)


def clean_controls(value: Any) -> Any:
    """``value`` with ``strip_controls`` applied to every string in it, keys included.

    Callers bound the nesting first (``pitchey_incidents.drf.JSONParser``), so recursion stays shallow.
    """
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {clean_controls(k): clean_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_controls(v) for v in value]
    return value


def xml_safe(text: object) -> str:
    """``text`` as a string XML 1.0 can carry (the characters it cannot are dropped)."""
    return _NOT_XML.sub("", str(text))


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest deeper than ``limit`` (iterative, so any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
