//! Billing: balance, credit limit, cards, recent invoices and failed payments.

use chrono::{Duration, Utc};
use futures::{TryFutureExt, future::BoxFuture};
use serde::Deserialize;

use super::{Source, SourceData, SourceError};
use crate::{
    core::db::{Bind, Db, PoolStatus, json, per_key},
    core::records::{Billing, FailedPayment, Invoice, PaymentMethod},
    core::vocab::{Currency, CustomerId, InvalidValue, Money, OrderId, SourceKind, Timestamp},
};

/// How far back failed payments are reported.
pub const FAILED_PAYMENTS_WINDOW: Duration = Duration::days(180);

const ACCOUNT: &str = "SELECT currency, balance_minor, credit_limit_minor \
     FROM billing_accounts WHERE customer_id = $1";
const METHODS: &str = "SELECT id, brand, last4, expiry_month, expiry_year, is_default \
     FROM payment_methods WHERE customer_id = $1 ORDER BY is_default DESC, id";
const INVOICES: &str = "SELECT id, order_id, currency, amount_minor, status, failure_reason, \
     issued_at, due_at, paid_at, failed_at FROM invoices WHERE customer_id = $1 \
     ORDER BY issued_at DESC, id DESC LIMIT 12";
const FAILED: &str = "SELECT id, order_id, currency, amount_minor, status, failure_reason, \
     issued_at, due_at, paid_at, failed_at FROM invoices \
     WHERE customer_id = $1 AND status = 'payment_failed' AND failed_at >= $2 \
     ORDER BY failed_at DESC, id DESC LIMIT 10";

/// On Postgres, the four statements above in one, for every customer of a batch: a round trip
/// per batch of loads instead of four per load. Rows are JSON arrays, read in the fields' order
/// (no column names repeated in every row).
const ALL: &str = per_key!(
    "json_build_array(\
     (SELECT json_build_array(currency, balance_minor, credit_limit_minor) \
        FROM billing_accounts WHERE customer_id = k.id), \
     (SELECT COALESCE(json_agg(json_build_array(id, brand, last4, expiry_month, expiry_year, \
        is_default) ORDER BY is_default DESC, id), '[]') FROM payment_methods \
        WHERE customer_id = k.id), \
     (SELECT COALESCE(json_agg(json_build_array(i.id, i.order_id, i.currency, i.amount_minor, \
        i.status, i.failure_reason, i.issued_at, i.due_at, i.paid_at, i.failed_at) \
        ORDER BY i.issued_at DESC, i.id DESC), '[]') FROM \
        (SELECT * FROM invoices WHERE customer_id = k.id \
        ORDER BY issued_at DESC, id DESC LIMIT 12) i), \
     (SELECT COALESCE(json_agg(json_build_array(f.id, f.order_id, f.currency, f.amount_minor, \
        f.status, f.failure_reason, f.issued_at, f.due_at, f.paid_at, f.failed_at) \
        ORDER BY f.failed_at DESC, f.id DESC), '[]') FROM \
        (SELECT * FROM invoices \
        WHERE customer_id = k.id AND status = 'payment_failed' AND failed_at >= $2 \
        ORDER BY failed_at DESC, id DESC LIMIT 10) f))"
);

/// What billing holds about one customer, as its statements return it.
#[derive(Deserialize)]
struct Rows {
    account: Option<AccountRow>,
    methods: Vec<MethodRow>,
    invoices: Vec<InvoiceRow>,
    failed: Vec<InvoiceRow>,
}

#[derive(sqlx::FromRow, Deserialize)]
struct AccountRow {
    currency: String,
    balance_minor: i64,
    credit_limit_minor: i64,
}

#[derive(sqlx::FromRow, Deserialize)]
struct MethodRow {
    id: i64,
    brand: String,
    last4: String,
    expiry_month: i32,
    expiry_year: i32,
    is_default: bool,
}

#[derive(sqlx::FromRow, Deserialize)]
struct InvoiceRow {
    id: i64,
    order_id: Option<i64>,
    currency: String,
    amount_minor: i64,
    status: String,
    failure_reason: Option<String>,
    #[serde(deserialize_with = "json::timestamp")]
    issued_at: Timestamp,
    #[serde(deserialize_with = "json::timestamp")]
    due_at: Timestamp,
    #[serde(deserialize_with = "json::optional_timestamp")]
    paid_at: Option<Timestamp>,
    #[serde(deserialize_with = "json::optional_timestamp")]
    failed_at: Option<Timestamp>,
}

impl InvoiceRow {
    fn amount(&self) -> Result<Money, InvalidValue> {
        Ok(Money::new(self.currency.parse()?, self.amount_minor))
    }

    fn into_invoice(self) -> Result<Invoice, InvalidValue> {
        Ok(Invoice {
            id: self.id,
            order_id: self.order_id.and_then(OrderId::new),
            amount: self.amount()?,
            status: self.status.parse()?,
            issued_at: self.issued_at,
            due_at: self.due_at,
            paid_at: self.paid_at,
        })
    }

    fn into_failed_payment(self) -> Result<FailedPayment, InvalidValue> {
        Ok(FailedPayment {
            invoice_id: self.id,
            amount: self.amount()?,
            reason: self
                .failure_reason
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            failed_at: self.failed_at.unwrap_or(self.issued_at),
        })
    }
}

impl TryFrom<MethodRow> for PaymentMethod {
    type Error = InvalidValue;

    fn try_from(row: MethodRow) -> Result<Self, InvalidValue> {
        let expiry_month = u32::try_from(row.expiry_month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| InvalidValue::new("expiry month", &row.expiry_month.to_string()))?;
        Ok(Self {
            id: row.id,
            brand: row.brand,
            last4: row.last4,
            expiry_month,
            expiry_year: row.expiry_year,
            is_default: row.is_default,
        })
    }
}

/// The billing backend over sqlx.
#[derive(Debug, Clone)]
pub struct BillingSource {
    db: Db,
}

impl BillingSource {
    /// Billing in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The customer's rows: in one batched statement on Postgres, in four on SQLite.
    async fn rows(&self, id: CustomerId) -> Result<Rows, sqlx::Error> {
        let since = Bind::Time(Utc::now() - FAILED_PAYMENTS_WINDOW);
        if self.db.is_postgres() {
            return self.db.fetch_json_of(ALL, id.get(), &[since]).await;
        }
        let customer = [Bind::Int(id.get())];
        let since = [Bind::Int(id.get()), since];
        let (account, methods, invoices, failed) = futures::try_join!(
            self.db.fetch_optional::<AccountRow>(ACCOUNT, &customer),
            self.db.fetch_all::<MethodRow>(METHODS, &customer),
            self.db.fetch_all::<InvoiceRow>(INVOICES, &customer),
            self.db.fetch_all::<InvoiceRow>(FAILED, &since),
        )?;
        Ok(Rows {
            account,
            methods,
            invoices,
            failed,
        })
    }

    async fn billing(&self, id: CustomerId) -> Result<Option<Billing>, SourceError> {
        let Rows {
            account,
            methods,
            invoices,
            failed,
        } = self
            .rows(id)
            .await
            .map_err(SourceError::query(SourceKind::Billing))?;
        let Some(account) = account else {
            return Ok(None);
        };
        let build = || -> Result<Billing, InvalidValue> {
            let currency: Currency = account.currency.parse()?;
            Ok(Billing {
                balance: Money::new(currency, account.balance_minor),
                credit_limit: Money::new(currency, account.credit_limit_minor),
                payment_methods: methods
                    .into_iter()
                    .map(PaymentMethod::try_from)
                    .collect::<Result<_, _>>()?,
                recent_invoices: invoices
                    .into_iter()
                    .map(InvoiceRow::into_invoice)
                    .collect::<Result<_, _>>()?,
                failed_payments: failed
                    .into_iter()
                    .map(InvoiceRow::into_failed_payment)
                    .collect::<Result<_, _>>()?,
            })
        };
        build()
            .map(Some)
            .map_err(SourceError::invalid(SourceKind::Billing))
    }
}

impl Source for BillingSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Billing
    }

    fn pool(&self) -> Option<PoolStatus> {
        Some(self.db.status())
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        super::ping(&self.db, SourceKind::Billing)
    }

    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        Box::pin(self.billing(customer).map_ok(SourceData::Billing))
    }
}
