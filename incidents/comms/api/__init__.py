"""The communications API: on call (rotations, overrides, escalation levels) and people."""
