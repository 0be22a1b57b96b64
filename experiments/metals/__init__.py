"""The periodic-metals study: one multi-element model with and without the orbital target
(README.md)."""
