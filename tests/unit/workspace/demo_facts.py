"""Facts of the demo workspace that several discovery tests rely on."""

# computed from the same orders as orders_365d (docs/discovery.md: circular tags)
ORDERS_TAGS = frozenset(
    {
        "orders_365d",
        "spend_365d",
        "avg_order_value",
        "days_since_order",
        "preferred_items",
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "rfm_segment",
        "spend_band",
        "value_tier",
    }
)
