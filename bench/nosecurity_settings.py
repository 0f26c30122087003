"""The platform's settings without its security middleware: the baseline of bench/export_orders_api.py only.

Never used by the platform itself; the benchmark serves the same endpoint with and without the
blacklist, IP rules and application firewall to measure what they cost.
"""

from bindery.settings import *  # noqa: F403
from bindery.settings import MIDDLEWARE as _ALL

MIDDLEWARE = [m for m in _ALL if not m.startswith("bindery.security.")]
