"""The tag build's computers: one per tag kind, registered by kind in :mod:`.registry`.

- :mod:`.base`: the interface (:class:`TagComputer`), the Python-side part
  (:class:`ArrowColumn`) and a base for Python kinds (:class:`PythonComputer`);
- :mod:`.sql`: the computers of the SQL kinds (attribute, bucket, metric, preference, rfm,
  derived), over :mod:`portrait.compile`;
- :mod:`.registry`: kind → computer (:func:`register`, :func:`unregister`, :func:`computer_for`);
- :mod:`.stages`: the order of a build, in stages by dependency;
- :mod:`.runner`: the stages run on the engine into ``profile.parquet``.
"""

from portrait.profile.computers.base import ArrowColumn, Part, PythonComputer, TagComputer
from portrait.profile.computers.registry import computer_for, kinds, register, unregister
from portrait.profile.computers.runner import compute_profile

__all__ = [
    "ArrowColumn",
    "Part",
    "PythonComputer",
    "TagComputer",
    "compute_profile",
    "computer_for",
    "kinds",
    "register",
    "unregister",
]
