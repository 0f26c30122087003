"""A stand-alone ERP client, run as its own process: what an ERP script does against Bindery over TLS.

``python -m tests.api.erp_client BASE_URL CA_FILE SETUP_JSON PRODUCTS`` pushes a catalogue as
bindCommerceProducts XML (Konga style: double-escaped texts, omitted empty fields), pulls the
orders as XML twice, and posts a shipping update for every order it pulled. Only the standard
library and httpx: nothing of Bindery is imported. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import html
import json
import ssl
import sys

import defusedxml.ElementTree as ET
import httpx

APOSTROPHE = "\u2019"  # a typographic apostrophe, as ERPs store "O'Brien"


def _escape(text: str) -> str:
    return html.escape(html.escape(text).encode("ascii", "xmlcharrefreplace").decode("ascii"), quote=False)


def catalogue(count: int) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<bindCommerceProducts Mode="full">\n  <Products>\n']
    for n in range(count):
        title = f"Tazza caffè n. {n} — O{APOSTROPHE}Brien & Co"
        parts.append(
            f"    <Product>\n      <Code>{_escape(f'ERP-{n:06d}')}</Code>\n"
            f"      <Title>{_escape(title)}</Title>\n"
            f"      <DescriptionHtml>{_escape(f'<p>Porcellana <b>bianca</b>, {n % 7 + 1} pezzi</p>')}"
            "</DescriptionHtml>\n"
            "      <Language>IT</Language>\n      <BarcodeKind>EAN</BarcodeKind>\n"
            f"      <Prices><Price><ListCode>retail</ListCode><Currency>EUR</Currency><Vat>0.22</Vat>"
            f"<NetPrice>{10 + n % 50}.5</NetPrice><GrossPrice>{(10 + n % 50 + 0.5) * 1.22:.2f}</GrossPrice>"
            "<OverridePrice>0</OverridePrice><Override>0</Override></Price></Prices>\n"
            f"      <Categories><Category>Cucina|Tazze|Serie {n % 20}</Category></Categories>\n"
            f"      <Qty>{n % 9 + 1}.000</Qty>\n      <Attributes />\n    </Product>\n")
    parts.append("  </Products>\n</bindCommerceProducts>\n")
    return "".join(parts).encode("utf-8")


def main(argv: list[str]) -> int:
    base, ca_file, setup_json, count = argv[0], argv[1], argv[2], int(argv[3])
    setup = json.loads(setup_json)
    context = ssl.create_default_context(cafile=ca_file)
    seen: dict[str, object] = {}
    with httpx.Client(base_url=base, verify=context, timeout=600) as client:
        erp = {"token": setup["erp_token"], "cache-control": "no-cache"}
        body = catalogue(count)
        seen["catalogue_bytes"] = len(body)
        pushed = client.post(setup["products_url"], content=body, headers={**erp, "content-type": "text/xml"})
        answer = pushed.json()
        seen["push"] = [pushed.status_code, answer["status"], sum(r["outcome"] == "created" for r in answer["results"])]
        pulls = []
        for _ in range(2):
            response = client.get(setup["orders_url"], headers=erp)
            response.raise_for_status()
            root = ET.fromstring(response.text.encode("utf-8"))  # as the Konga reader does
            pulls.append([d.findtext("General/bindCommerceNumber") for d in root.findall("Document")])
        seen["pulls"] = [len(p) for p in pulls]
        seen["content_type"] = response.headers["content-type"]
        entries = [{"OrderID": key, "TrackingCarrier": "BRT", "TrackingNumber": f"BRT{i:08d}",
                    "ShippedTime": "2026:11:29 15:30:00"} for i, key in enumerate(pulls[0])]
        shipped = client.post(setup["shipping_url"], json=entries,
                              headers={"token": setup["wms_token"], "cache-control": "no-cache"})
        seen["shipping"] = [shipped.status_code, shipped.json().get("status", shipped.text[:500])]
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
