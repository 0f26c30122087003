"""The processor's record of processing activities (GDPR art. 30(2)) and the privacy notice.

Both are generated from the registry, so they cannot drift from what the code stores.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bindery.privacy.registry import DECLARATIONS, DataClass

PROCESSOR = {
    "processor": "the operator of this Bindery installation",
    "categories_of_processing": [
        "synchronising catalogue, stock, prices, orders and shipments between the merchant's systems",
        "storing orders and customer contact data needed to fulfil and invoice them",
    ],
    "transfers": "only to the systems the merchant connects (shops, marketplaces, ERPs, carriers)",
    "security_measures": [
        "TLS 1.2+ for all traffic", "tenant isolation in the application and row-level security",
        "credentials encrypted at rest (AES-GCM)", "multi-factor authentication and brute-force protection",
        "daily encrypted backups on another site", "access audit of personal-data reads",
    ],
}


def record_of_processing() -> dict[str, Any]:
    """Return the art. 30(2) record: processing purposes with the personal data each uses."""
    by_purpose: dict[str, list[str]] = defaultdict(list)
    for d in DECLARATIONS:
        if d.data_class == DataClass.PERSONAL:
            by_purpose[d.purpose].append(f"{d.model}.{d.field}")
    return {**PROCESSOR, "purposes": [{"purpose": p, "personal_data": sorted(fields)}
                                      for p, fields in sorted(by_purpose.items())]}


def record_as_markdown() -> str:
    record = record_of_processing()
    lines = ["# Record of processing activities (GDPR art. 30(2))", "",
             f"Processor: {record['processor']}.", "", "## Categories of processing", ""]
    lines += [f"- {c}" for c in record["categories_of_processing"]]
    lines += ["", "## Personal data by purpose", ""]
    for entry in record["purposes"]:
        lines += [f"### {entry['purpose'].capitalize()}", "", *[f"- `{f}`" for f in entry["personal_data"]], ""]
    lines += ["## Transfers", "", record["transfers"], "", "## Security measures (art. 32)", ""]
    lines += [f"- {m}" for m in record["security_measures"]]
    return "\n".join(lines) + "\n"


def privacy_notice() -> dict[str, Any]:
    """What the public privacy notice lists: per purpose, the personal data and how long it is kept."""
    record = record_of_processing()
    return {"purposes": record["purposes"], "transfers": record["transfers"],
            "security_measures": record["security_measures"],
            "rights": ["access (a copy of your data)", "rectification", "erasure", "restriction", "portability",
                       "objection", "a complaint to your supervisory authority"]}
