//! The rows of one batch of customers, a table per backend table, written parents first.

use crate::tools::seed::write::Table;

/// The tables of one batch, in the order they must be written.
pub(crate) struct Batch {
    pub(super) customers: Table,
    pub(super) interactions: Table,
    pub(super) messages: Table,
    pub(super) accounts: Table,
    pub(super) methods: Table,
    pub(super) invoices: Table,
    pub(super) orders: Table,
    pub(super) lines: Table,
    pub(super) shipments: Table,
}

impl Batch {
    pub(super) fn new() -> Self {
        Self {
            customers: Table::new(
                "customers",
                &[
                    "id",
                    "first_name",
                    "last_name",
                    "email",
                    "phone_e164",
                    "tier",
                    "loyalty_points",
                    "preferred_channel",
                    "created_at",
                ],
            ),
            interactions: Table::new(
                "interactions",
                &[
                    "id",
                    "customer_id",
                    "channel",
                    "subject",
                    "status",
                    "csat",
                    "created_at",
                    "updated_at",
                    "priority",
                ],
            ),
            messages: Table::new(
                "interaction_messages",
                &[
                    "id",
                    "interaction_id",
                    "customer_id",
                    "position",
                    "kind",
                    "author",
                    "sent_at",
                    "body",
                ],
            ),
            accounts: Table::new(
                "billing_accounts",
                &[
                    "customer_id",
                    "currency",
                    "balance_minor",
                    "credit_limit_minor",
                ],
            ),
            methods: Table::new(
                "payment_methods",
                &[
                    "id",
                    "customer_id",
                    "brand",
                    "last4",
                    "expiry_month",
                    "expiry_year",
                    "is_default",
                ],
            ),
            invoices: Table::new(
                "invoices",
                &[
                    "id",
                    "customer_id",
                    "order_id",
                    "currency",
                    "amount_minor",
                    "status",
                    "failure_reason",
                    "issued_at",
                    "due_at",
                    "paid_at",
                    "failed_at",
                ],
            ),
            orders: Table::new(
                "orders",
                &[
                    "id",
                    "customer_id",
                    "status",
                    "currency",
                    "total_minor",
                    "placed_at",
                ],
            ),
            lines: Table::new(
                "order_lines",
                &[
                    "order_id",
                    "line_number",
                    "sku",
                    "quantity",
                    "unit_price_minor",
                    "returned_quantity",
                ],
            ),
            shipments: Table::new(
                "shipments",
                &[
                    "id",
                    "order_id",
                    "customer_id",
                    "carrier",
                    "tracking_number",
                    "status",
                    "promised_at",
                    "shipped_at",
                    "delivered_at",
                    "created_at",
                ],
            ),
        }
    }

    /// Every table, parents first.
    pub(crate) fn into_tables(self) -> Vec<Table> {
        vec![
            self.customers,
            self.interactions,
            self.messages,
            self.accounts,
            self.methods,
            self.invoices,
            self.orders,
            self.lines,
            self.shipments,
        ]
    }

    /// Rows in all tables.
    pub(crate) fn rows(&self) -> usize {
        [
            &self.customers,
            &self.interactions,
            &self.messages,
            &self.accounts,
            &self.methods,
            &self.invoices,
            &self.orders,
            &self.lines,
            &self.shipments,
        ]
        .iter()
        .map(|t| t.rows.len())
        .sum()
    }
}
