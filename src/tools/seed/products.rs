//! The generated catalog: categories with their return policies, and products in them.

use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

use super::write::{Table, Value};

/// A product category and its return policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Category {
    pub(crate) code: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) sku_prefix: &'static str,
    pub(crate) window_days: i32,
    pub(crate) returnable: bool,
    /// Price range in cents.
    pub(crate) prices: (i64, i64),
    /// How often it is bought, relative to the others.
    pub(crate) popularity: u32,
    nouns: &'static [&'static str],
}

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Everyday",
    "Pro",
    "Premium",
    "Smart",
    "Ultra",
    "Vintage",
    "Travel",
    "Studio",
    "Urban",
    "Nordic",
    "Midnight",
];

pub(crate) const CATEGORIES: &[Category] = &[
    Category {
        code: "electronics",
        display_name: "Electronics",
        sku_prefix: "ELE",
        window_days: 30,
        returnable: true,
        prices: (1_500, 45_000),
        popularity: 14,
        nouns: &[
            "Headphones",
            "Speaker",
            "Charger",
            "Power Bank",
            "Smartwatch",
            "Earbuds",
            "Camera",
        ],
    },
    Category {
        code: "computers",
        display_name: "Computers",
        sku_prefix: "CMP",
        window_days: 30,
        returnable: true,
        prices: (2_000, 180_000),
        popularity: 6,
        nouns: &[
            "Laptop",
            "Keyboard",
            "Mouse",
            "Monitor",
            "Webcam",
            "Docking Station",
            "SSD",
        ],
    },
    Category {
        code: "phones",
        display_name: "Phones",
        sku_prefix: "PHN",
        window_days: 14,
        returnable: true,
        prices: (1_000, 120_000),
        popularity: 6,
        nouns: &[
            "Phone",
            "Phone Case",
            "Screen Protector",
            "Car Mount",
            "Cable",
        ],
    },
    Category {
        code: "home",
        display_name: "Home & kitchen",
        sku_prefix: "HOM",
        window_days: 30,
        returnable: true,
        prices: (800, 30_000),
        popularity: 14,
        nouns: &[
            "Kettle",
            "Toaster",
            "Knife Set",
            "Frying Pan",
            "Lamp",
            "Cushion",
            "Coffee Maker",
        ],
    },
    Category {
        code: "garden",
        display_name: "Garden",
        sku_prefix: "GDN",
        window_days: 30,
        returnable: true,
        prices: (500, 25_000),
        popularity: 4,
        nouns: &["Hose", "Planter", "Shears", "Lantern", "Bird Feeder"],
    },
    Category {
        code: "toys",
        display_name: "Toys & games",
        sku_prefix: "TOY",
        window_days: 30,
        returnable: true,
        prices: (700, 9_000),
        popularity: 7,
        nouns: &["Puzzle", "Board Game", "Building Set", "Plush Bear", "Kite"],
    },
    Category {
        code: "books",
        display_name: "Books",
        sku_prefix: "BOO",
        window_days: 14,
        returnable: true,
        prices: (600, 4_500),
        popularity: 12,
        nouns: &["Novel", "Cookbook", "Atlas", "Biography", "Notebook"],
    },
    Category {
        code: "fashion",
        display_name: "Clothing & shoes",
        sku_prefix: "FSH",
        window_days: 60,
        returnable: true,
        prices: (1_200, 25_000),
        popularity: 16,
        nouns: &[
            "T-Shirt", "Jacket", "Sneakers", "Scarf", "Jeans", "Boots", "Backpack",
        ],
    },
    Category {
        code: "beauty",
        display_name: "Beauty",
        sku_prefix: "BTY",
        window_days: 14,
        returnable: true,
        prices: (500, 9_000),
        popularity: 8,
        nouns: &["Face Cream", "Perfume", "Shampoo", "Hair Dryer", "Lipstick"],
    },
    Category {
        code: "sports",
        display_name: "Sports",
        sku_prefix: "SPT",
        window_days: 30,
        returnable: true,
        prices: (900, 60_000),
        popularity: 7,
        nouns: &[
            "Yoga Mat",
            "Dumbbells",
            "Running Shoes",
            "Bike Helmet",
            "Water Bottle",
        ],
    },
    Category {
        code: "grocery",
        display_name: "Grocery",
        sku_prefix: "GRO",
        window_days: 0,
        returnable: false,
        prices: (150, 3_000),
        popularity: 4,
        nouns: &[
            "Coffee Beans",
            "Olive Oil",
            "Tea Selection",
            "Chocolate",
            "Honey",
        ],
    },
    Category {
        code: "gift_cards",
        display_name: "Gift cards",
        sku_prefix: "GFT",
        window_days: 0,
        returnable: false,
        prices: (1_000, 10_000),
        popularity: 2,
        nouns: &["Gift Card"],
    },
];

/// Products per category.
const PRODUCTS_PER_CATEGORY: usize = 40;

/// A generated product.
#[derive(Debug, Clone)]
pub(crate) struct SeedProduct {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) category: &'static Category,
    pub(crate) price_minor: i64,
    pub(crate) returnable: bool,
}

/// The products of every category, the same for the same `seed`.
pub(crate) fn products(seed: u64) -> Vec<SeedProduct> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xCA7A_1065);
    let mut products = Vec::new();
    for category in CATEGORIES {
        for n in 1..=PRODUCTS_PER_CATEGORY {
            let noun = category.nouns[rng.random_range(0..category.nouns.len())];
            let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
            let (low, high) = category.prices;
            // Prices end in .99, like a shop's.
            let price_minor = (rng.random_range(low..=high) / 100) * 100 + 99;
            // Personalised and hygiene items: some products cannot go back even where their
            // category can.
            let personalised = category.returnable && rng.random_bool(0.04);
            products.push(SeedProduct {
                sku: format!("{}-{n:05}", category.sku_prefix),
                name: if personalised {
                    format!("Personalised {adjective} {noun}")
                } else {
                    format!("{adjective} {noun}")
                },
                category,
                price_minor,
                returnable: category.returnable && !personalised,
            });
        }
    }
    products
}

/// The catalog's two tables.
pub(crate) fn tables(products: &[SeedProduct]) -> Vec<Table> {
    let mut policies = Table::new(
        "return_policies",
        &["category", "display_name", "window_days", "returnable"],
    );
    for category in CATEGORIES {
        policies.push(vec![
            category.code.into(),
            category.display_name.into(),
            category.window_days.into(),
            category.returnable.into(),
        ]);
    }
    let mut rows = Table::new(
        "products",
        &[
            "sku",
            "name",
            "category",
            "currency",
            "price_minor",
            "returnable",
        ],
    );
    for product in products {
        rows.push(vec![
            product.sku.as_str().into(),
            product.name.as_str().into(),
            product.category.code.into(),
            Value::from("EUR"),
            product.price_minor.into(),
            product.returnable.into(),
        ]);
    }
    vec![policies, rows]
}
