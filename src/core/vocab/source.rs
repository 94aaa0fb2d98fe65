//! The four backends a profile is merged from, sets of them, and one value for each.

use std::{
    fmt,
    ops::{Index, IndexMut},
};

/// One of the four backends a profile is merged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// Balance, cards, invoices.
    Billing,
    /// Orders and their lines.
    Orders,
    /// Shipments.
    Fulfilment,
    /// Identity and interactions.
    Crm,
}

impl SourceKind {
    /// All four, in a fixed order (the order of `sources` in a profile).
    pub const ALL: [Self; 4] = [Self::Billing, Self::Orders, Self::Fulfilment, Self::Crm];

    /// Lower-case name, as in configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Billing => "billing",
            Self::Orders => "orders",
            Self::Fulfilment => "fulfilment",
            Self::Crm => "crm",
        }
    }

    /// The backend of this lower-case name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourceSet(u8);

impl SourceSet {
    /// No backend.
    pub const EMPTY: Self = Self(0);
    /// Every backend.
    pub const ALL: Self = Self(0b1111);

    /// The set of these backends.
    pub const fn of(kinds: &[SourceKind]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << kinds[i] as u8;
            i += 1;
        }
        Self(bits)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: SourceKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The backends in both sets.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether the set has no backend.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every backend of `other` is in this set.
    pub fn covers(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The backends in the set, in [`SourceKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = SourceKind> {
        SourceKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl FromIterator<SourceKind> for SourceSet {
    fn from_iter<I: IntoIterator<Item = SourceKind>>(kinds: I) -> Self {
        kinds
            .into_iter()
            .fold(Self::EMPTY, |set, kind| set.union(Self::of(&[kind])))
    }
}

/// One `T` for each backend, by name: a timeout, a counter, a report, a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PerSource<T> {
    /// Billing's.
    pub billing: T,
    /// Orders'.
    pub orders: T,
    /// Fulfilment's.
    pub fulfilment: T,
    /// CRM's.
    pub crm: T,
}

impl<T> PerSource<T> {
    /// `value(kind)` for each backend.
    pub fn from_fn(mut value: impl FnMut(SourceKind) -> T) -> Self {
        Self {
            billing: value(SourceKind::Billing),
            orders: value(SourceKind::Orders),
            fulfilment: value(SourceKind::Fulfilment),
            crm: value(SourceKind::Crm),
        }
    }

    /// The same value for each backend.
    pub fn same(value: T) -> Self
    where
        T: Clone,
    {
        Self::from_fn(|_| value.clone())
    }

    /// Each value turned into another.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerSource<U> {
        PerSource {
            billing: f(self.billing),
            orders: f(self.orders),
            fulfilment: f(self.fulfilment),
            crm: f(self.crm),
        }
    }

    /// Each backend with its value, in [`SourceKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (SourceKind, &T)> {
        SourceKind::ALL
            .into_iter()
            .map(move |kind| (kind, &self[kind]))
    }
}

impl<T> Index<SourceKind> for PerSource<T> {
    type Output = T;

    fn index(&self, kind: SourceKind) -> &T {
        match kind {
            SourceKind::Billing => &self.billing,
            SourceKind::Orders => &self.orders,
            SourceKind::Fulfilment => &self.fulfilment,
            SourceKind::Crm => &self.crm,
        }
    }
}

impl<T> IndexMut<SourceKind> for PerSource<T> {
    fn index_mut(&mut self, kind: SourceKind) -> &mut T {
        match kind {
            SourceKind::Billing => &mut self.billing,
            SourceKind::Orders => &mut self.orders,
            SourceKind::Fulfilment => &mut self.fulfilment,
            SourceKind::Crm => &mut self.crm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_sets_hold_what_was_put_in() {
        let set = SourceSet::of(&[SourceKind::Crm, SourceKind::Billing]);
        assert!(set.contains(SourceKind::Crm) && set.contains(SourceKind::Billing));
        assert!(!set.contains(SourceKind::Orders));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [SourceKind::Billing, SourceKind::Crm]
        );
        assert!(SourceSet::ALL.covers(set) && !set.covers(SourceSet::ALL));
        assert_eq!(set.union(SourceSet::ALL), SourceSet::ALL);
        assert_eq!(SourceSet::of(&SourceKind::ALL), SourceSet::ALL);
        assert_eq!(set.iter().collect::<SourceSet>(), set);
    }

    #[test]
    fn per_source_values_are_found_by_kind_and_visited_in_order() {
        let mut names = PerSource::from_fn(SourceKind::as_str);
        assert_eq!(names[SourceKind::Fulfilment], "fulfilment");
        names[SourceKind::Crm] = "customers";
        assert_eq!(names.crm, "customers");
        let kinds: Vec<_> = names.iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, SourceKind::ALL);
        assert_eq!(names.map(str::len).orders, 6);
        assert_eq!(PerSource::same(3).billing, 3);
    }
}
