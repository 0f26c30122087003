"""The ``logistics`` technology: a warehouse or carrier system reports shipments to the hub.

Its ``shipping_update`` connector is called at ``POST /api/connectors/<id>/shipments`` with the
JSON array of WIRE.md section 4, authenticated with a token of the logistics node. Shipments
recorded in the hub flow back to the orders' channels through their order-upload connectors.
"""

from bindery.integration.registry import ConnectorType, Direction, Technology
from bindery.technologies.bindery_api.connectors import ShippingUpdateConfig, run_passive

TECHNOLOGY = Technology(
    key="logistics",
    name="Logistics (shipping updates)",
    description="A WMS, ERP or carrier posts tracking numbers for hub orders with this node's token.",
    connector_types=(
        ConnectorType(key="shipping_update", name="Shipping update", direction=Direction.SHIPMENT_UPDATE,
                      config_schema=ShippingUpdateConfig, run=run_passive, endpoint="POST shipments",
                      description="Receives {OrderID, TrackingCarrier, TrackingNumber, ShippedTime} entries."),
    ),
)
