"""The test oracle: Google's reference decode, shipped as boxmask.testing.reference."""

from boxmask.testing.reference import parse_json, reference_decode, reference_masks

__all__ = ["parse_json", "reference_decode", "reference_masks"]
