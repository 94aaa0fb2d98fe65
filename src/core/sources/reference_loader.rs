//! The catalog backend: products and return policies, read whole.

use crate::{
    core::db::Db,
    core::reference::{CatalogSnapshot, Product, ReturnPolicy},
    core::vocab::{InvalidValue, Money},
};

const POLICIES: &str =
    "SELECT category, display_name, window_days, returnable FROM return_policies";
const PRODUCTS: &str =
    "SELECT sku, name, category, currency, price_minor, returnable FROM products";

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database failed.
    #[error("catalog query failed")]
    Query(#[from] sqlx::Error),
    /// A row broke the reference schema's rules.
    #[error("catalog returned invalid data")]
    Invalid(#[from] InvalidValue),
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    category: String,
    display_name: String,
    window_days: i32,
    returnable: bool,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    sku: String,
    name: String,
    category: String,
    currency: String,
    price_minor: i64,
    returnable: bool,
}

/// The catalog backend over sqlx.
#[derive(Debug, Clone)]
pub struct CatalogSource {
    db: Db,
}

impl CatalogSource {
    /// The catalog in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Reads every product and policy into a new snapshot.
    pub async fn load(&self) -> Result<CatalogSnapshot, CatalogError> {
        let (policies, products) = futures::try_join!(
            self.db.fetch_all::<PolicyRow>(POLICIES, &[]),
            self.db.fetch_all::<ProductRow>(PRODUCTS, &[]),
        )?;
        let policies = policies
            .into_iter()
            .map(|row| {
                Ok(ReturnPolicy {
                    window_days: u32::try_from(row.window_days).map_err(|_| {
                        InvalidValue::new("window days", &row.window_days.to_string())
                    })?,
                    category: row.category,
                    display_name: row.display_name,
                    returnable: row.returnable,
                })
            })
            .collect::<Result<Vec<_>, InvalidValue>>()?;
        let products = products
            .into_iter()
            .map(|row| {
                Ok(Product {
                    sku: row
                        .sku
                        .parse()
                        .map_err(|_| InvalidValue::new("sku", &row.sku))?,
                    name: row.name,
                    category: row.category,
                    price: Money::new(row.currency.parse()?, row.price_minor),
                    returnable: row.returnable,
                })
            })
            .collect::<Result<Vec<_>, InvalidValue>>()?;
        Ok(CatalogSnapshot::new(products, policies))
    }
}
