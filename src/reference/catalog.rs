//! The catalog snapshot and the handle that swaps it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use arc_swap::ArcSwap;

use crate::{
    keys::Sku,
    profile::{Money, Timestamp},
};

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// SKU.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Category code, the key of its return policy.
    pub category: String,
    /// List price.
    pub price: Money,
    /// False for products that can never be returned.
    pub returnable: bool,
}

/// How returns work for one category.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnPolicy {
    /// Category code.
    pub category: String,
    /// Display name.
    pub display_name: String,
    /// Days after delivery during which a line may be returned.
    pub window_days: u32,
    /// False when nothing in the category may be returned.
    pub returnable: bool,
}

/// One consistent version of the catalog and the return policies.
#[derive(Debug, Default)]
pub struct CatalogSnapshot {
    products: HashMap<Sku, Product>,
    policies: BTreeMap<String, ReturnPolicy>,
    loaded_at: Option<Timestamp>,
}

impl CatalogSnapshot {
    /// A snapshot of these products and policies, read at `loaded_at`.
    pub fn new(
        products: impl IntoIterator<Item = Product>,
        policies: impl IntoIterator<Item = ReturnPolicy>,
        loaded_at: Timestamp,
    ) -> Self {
        Self {
            products: products.into_iter().map(|p| (p.sku.clone(), p)).collect(),
            policies: policies
                .into_iter()
                .map(|p| (p.category.clone(), p))
                .collect(),
            loaded_at: Some(loaded_at),
        }
    }

    /// The product with this SKU.
    pub fn product(&self, sku: &Sku) -> Option<&Product> {
        self.products.get(sku)
    }

    /// The policy of this category.
    pub fn policy(&self, category: &str) -> Option<&ReturnPolicy> {
        self.policies.get(category)
    }

    /// The product with this SKU and the policy of its category.
    pub fn product_and_policy(&self, sku: &Sku) -> Option<(&Product, Option<&ReturnPolicy>)> {
        self.product(sku)
            .map(|product| (product, self.policy(&product.category)))
    }

    /// Every policy, by category.
    pub fn policies(&self) -> impl Iterator<Item = &ReturnPolicy> {
        self.policies.values()
    }

    /// How many products there are.
    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// When it was read; `None` for the empty snapshot served before the first load.
    pub fn loaded_at(&self) -> Option<Timestamp> {
        self.loaded_at
    }
}

/// The current catalog snapshot. Readers take an `Arc` to one version and keep it for the
/// whole request, so a refresh never shows them half of the old and half of the new.
#[derive(Debug, Default)]
pub struct Catalog {
    current: ArcSwap<CatalogSnapshot>,
}

impl Catalog {
    /// A catalog holding `snapshot`.
    pub fn new(snapshot: CatalogSnapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current version.
    pub fn snapshot(&self) -> Arc<CatalogSnapshot> {
        self.current.load_full()
    }

    /// Makes `snapshot` the current version.
    pub fn replace(&self, snapshot: CatalogSnapshot) {
        self.current.store(Arc::new(snapshot));
    }
}
