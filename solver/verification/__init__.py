"""Verification by manufactured solutions through the production code paths."""

from .mms import continuum_rates, mmp_rates

__all__ = ["continuum_rates", "mmp_rates"]
