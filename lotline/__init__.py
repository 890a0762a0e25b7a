"""Lotline's composition root: settings, logging, the embedded stack, wiring and the ``lotline`` CLI."""
