//! The catalog snapshot and the handle that swaps it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use arc_swap::ArcSwap;

use crate::core::vocab::{Money, Sku};

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
    fingerprint: u64,
}

impl CatalogSnapshot {
    /// A snapshot of these products and policies.
    pub fn new(
        products: impl IntoIterator<Item = Product>,
        policies: impl IntoIterator<Item = ReturnPolicy>,
    ) -> Self {
        let products: HashMap<Sku, Product> =
            products.into_iter().map(|p| (p.sku.clone(), p)).collect();
        let policies: BTreeMap<String, ReturnPolicy> = policies
            .into_iter()
            .map(|p| (p.category.clone(), p))
            .collect();
        let fingerprint = fingerprint(&products, &policies);
        Self {
            products,
            policies,
            fingerprint,
        }
    }

    /// A hash of the content: replicas that loaded the same catalog agree on it, so a profile
    /// enriched from another version of the catalog can be told apart.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
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
}

/// FNV-1a over the content in a fixed order: stable across processes, unlike `Hash`.
fn fingerprint(products: &HashMap<Sku, Product>, policies: &BTreeMap<String, ReturnPolicy>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |text: &str| {
        for byte in text.bytes().chain([0xff]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut skus: Vec<&Sku> = products.keys().collect();
    skus.sort();
    for sku in skus {
        let p = &products[sku];
        let line = format!(
            "{}|{}|{}|{}|{}|{}",
            p.sku, p.name, p.category, p.price.currency, p.price.minor, p.returnable
        );
        eat(&line);
    }
    for p in policies.values() {
        eat(&format!(
            "{}|{}|{}|{}",
            p.category, p.display_name, p.window_days, p.returnable
        ));
    }
    hash
}

/// The current catalog snapshot. Readers take an `Arc` to one version and keep it for the
/// whole request, so a refresh never shows them half of the old and half of the new.
#[derive(Debug)]
pub struct Catalog {
    current: ArcSwap<CatalogSnapshot>,
    /// The current version's fingerprint, for a read path that only needs to compare it.
    fingerprint: AtomicU64,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new(CatalogSnapshot::default())
    }
}

impl Catalog {
    /// A catalog holding `snapshot`.
    pub fn new(snapshot: CatalogSnapshot) -> Self {
        Self {
            fingerprint: AtomicU64::new(snapshot.fingerprint()),
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current version.
    pub fn snapshot(&self) -> Arc<CatalogSnapshot> {
        self.current.load_full()
    }

    /// The current version's fingerprint (one atomic load).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint.load(Ordering::Acquire)
    }

    /// Makes `snapshot` the current version; true if its content differs from the last one.
    pub fn replace(&self, snapshot: CatalogSnapshot) -> bool {
        let fingerprint = snapshot.fingerprint();
        self.current.store(Arc::new(snapshot));
        self.fingerprint.swap(fingerprint, Ordering::AcqRel) != fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::reference::sample_products::{electronics, headphones};

    fn snapshot(window_days: u32) -> CatalogSnapshot {
        CatalogSnapshot::new([headphones(true)], [electronics(window_days, true)])
    }

    #[test]
    fn the_fingerprint_follows_the_content_not_the_load() {
        assert_eq!(snapshot(30).fingerprint(), snapshot(30).fingerprint());
        assert_ne!(snapshot(30).fingerprint(), snapshot(14).fingerprint());
    }

    #[test]
    fn a_replaced_snapshot_is_what_readers_get_next() {
        let catalog = Catalog::new(snapshot(30));
        let before = catalog.snapshot();
        catalog.replace(snapshot(14));
        assert_eq!(
            before.policy("electronics").map(|p| p.window_days),
            Some(30)
        );
        assert_eq!(
            catalog
                .snapshot()
                .policy("electronics")
                .map(|p| p.window_days),
            Some(14)
        );
    }
}
