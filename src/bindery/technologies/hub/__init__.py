"""The internal ``hub`` technology: processing inside the hub (stock copy, price rules).

Its connectors prove the engine end to end through the catalog's own service layer: they read
changed products by delta, write with ``do_bulk_upsert_products`` (idempotent by SKU, change
logs and ``modified_at`` bumps included) and bind each product on their node.
"""

from bindery.integration.registry import Capability, ConnectorType, Direction, Technology
from bindery.technologies.hub.connectors import PriceRuleConfig, StockCopyConfig, run_price_rule, run_stock_copy

BOTH = frozenset({Capability.DIFFERENTIAL, Capability.SIMULATE})

TECHNOLOGY = Technology(
    key="hub",
    name="Hub (internal processing)",
    description="Processing inside the hub: copy stock between warehouses, derive price lists by rules.",
    connector_types=(
        ConnectorType(key="stock_copy", name="Copy stock between warehouses", direction=Direction.INTERNAL,
                      config_schema=StockCopyConfig, run=run_stock_copy, capabilities=BOTH,
                      description="Set each product's stock in the target warehouse to its stock in the source."),
        ConnectorType(key="price_rule", name="Price list by rule", direction=Direction.INTERNAL,
                      config_schema=PriceRuleConfig, run=run_price_rule, capabilities=BOTH,
                      description="target net = source net * multiplier + constant, rounded to a step."),
    ),
)
