"""Crop-native masks: PNG and polygon decoding and the :class:`Masks` store."""

from boxmask.masks.store import Masks

__all__ = ["Masks"]
