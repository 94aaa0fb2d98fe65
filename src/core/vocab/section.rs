//! The sections of a profile, the read mask that selects them, and the backends each needs.

use super::{SourceKind, SourceSet};

/// A data section of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// CRM.
    Identity,
    /// Billing.
    Billing,
    /// Orders, enriched with fulfilment's deliveries for return windows.
    Orders,
    /// Fulfilment.
    Shipments,
    /// CRM.
    Interactions,
    /// Derived from all four backends.
    Insights,
}

impl Section {
    /// Every section, in profile order.
    pub const ALL: [Self; 6] = [
        Self::Identity,
        Self::Billing,
        Self::Orders,
        Self::Shipments,
        Self::Interactions,
        Self::Insights,
    ];

    /// The read-mask path, which is also the profile's field name.
    pub fn path(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Billing => "billing",
            Self::Orders => "orders",
            Self::Shipments => "shipments",
            Self::Interactions => "interactions",
            Self::Insights => "insights",
        }
    }

    /// The backends this section is built from.
    pub fn needs(self) -> SourceSet {
        use SourceKind::*;
        match self {
            Self::Identity | Self::Interactions => SourceSet::of(&[Crm]),
            Self::Billing => SourceSet::of(&[Billing]),
            Self::Orders => SourceSet::of(&[Orders, Fulfilment]),
            Self::Shipments => SourceSet::of(&[Fulfilment]),
            Self::Insights => SourceSet::ALL,
        }
    }

    /// The sections whose data comes from `kind` alone: what an older copy of that backend's
    /// data can stand in for when it fails.
    pub fn only_from(kind: SourceKind) -> &'static [Self] {
        match kind {
            SourceKind::Billing => &[Self::Billing],
            SourceKind::Orders => &[Self::Orders],
            SourceKind::Fulfilment => &[Self::Shipments],
            SourceKind::Crm => &[Self::Identity, Self::Interactions],
        }
    }
}

/// Fields of the profile that are always returned, so a mask may name them.
const ALWAYS_RETURNED: [&str; 3] = ["customer_id", "sources", "cache"];

/// A read mask that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// A path that is not a section.
    #[error(
        "unknown path {0:?}: expected \"*\" or sections among identity, billing, orders, shipments, interactions, insights"
    )]
    UnknownPath(String),
    /// `*` beside other paths.
    #[error("\"*\" must be the only path")]
    StarWithOthers,
    /// A path that is not a field a role may be denied.
    #[error("unknown field {0:?}: expected billing.payment_methods")]
    UnknownField(String),
}

/// A set of sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionSet(u8);

impl SectionSet {
    /// Every section.
    pub const ALL: Self = Self(0b11_1111);
    /// No data section: only the id, the source reports and the cache info.
    pub const NONE: Self = Self(0);

    /// The set of these sections.
    pub fn of(sections: &[Section]) -> Self {
        Self(sections.iter().fold(0, |bits, s| bits | 1 << *s as u8))
    }

    /// Parses read-mask paths; none, or `*` alone, mean every section.
    pub fn from_mask<S: AsRef<str>>(paths: &[S]) -> Result<Self, MaskError> {
        if paths.is_empty() {
            return Ok(Self::ALL);
        }
        if paths.iter().any(|p| p.as_ref().trim() == "*") {
            return match paths.len() {
                1 => Ok(Self::ALL),
                _ => Err(MaskError::StarWithOthers),
            };
        }
        let mut set = Self::NONE;
        for path in paths {
            let path = path.as_ref().trim();
            if ALWAYS_RETURNED.contains(&path) {
                continue;
            }
            let section = Section::ALL
                .into_iter()
                .find(|s| s.path() == path)
                .ok_or_else(|| MaskError::UnknownPath(super::echo(path)))?;
            set.0 |= 1 << section as u8;
        }
        Ok(set)
    }

    /// The sections in either set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The sections in both sets.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The sections of this set not in `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// No section.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `section` is in the set.
    pub fn contains(self, section: Section) -> bool {
        self.0 & (1 << section as u8) != 0
    }

    /// The sections in profile order.
    pub fn iter(self) -> impl Iterator<Item = Section> {
        Section::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The backends to ask. CRM is always among them: it is the system of record that says
    /// whether the customer exists at all.
    pub fn sources(self) -> SourceSet {
        self.iter()
            .fold(SourceSet::of(&[SourceKind::Crm]), |set, s| {
                set.union(s.needs())
            })
    }
}

/// A field inside a section that a role may be denied while it reads the rest of the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `billing.payment_methods`: the cards on file (brand, last four digits, expiry).
    PaymentMethods,
}

impl Field {
    /// Every field a role may be denied.
    pub const ALL: [Self; 1] = [Self::PaymentMethods];

    /// Its path: the section's, a dot, the field's name in the profile.
    pub fn path(self) -> &'static str {
        match self {
            Self::PaymentMethods => "billing.payment_methods",
        }
    }

    /// The section it is in.
    pub fn section(self) -> Section {
        match self {
            Self::PaymentMethods => Section::Billing,
        }
    }
}

/// A set of [`Field`]s: those a caller's roles hide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(u8);

impl FieldSet {
    /// No field.
    pub const NONE: Self = Self(0);
    /// Every field.
    pub const ALL: Self = Self(0b1);

    /// The set of these fields.
    pub fn of(fields: &[Field]) -> Self {
        Self(fields.iter().fold(0, |bits, f| bits | 1 << *f as u8))
    }

    /// The fields at `paths`.
    pub fn from_paths<S: AsRef<str>>(paths: &[S]) -> Result<Self, MaskError> {
        paths.iter().try_fold(Self::NONE, |set, path| {
            let path = path.as_ref().trim();
            let field = Field::ALL
                .into_iter()
                .find(|f| f.path() == path)
                .ok_or_else(|| MaskError::UnknownField(super::echo(path)))?;
            Ok(Self(set.0 | 1 << field as u8))
        })
    }

    /// The fields in either set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The fields of this set not in `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether `field` is in the set.
    pub fn contains(self, field: Field) -> bool {
        self.0 & (1 << field as u8) != 0
    }

    /// The fields in this set.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_mask_or_a_star_means_every_section() {
        assert_eq!(SectionSet::from_mask::<&str>(&[]), Ok(SectionSet::ALL));
        assert_eq!(SectionSet::from_mask(&["*"]), Ok(SectionSet::ALL));
        assert_eq!(
            SectionSet::from_mask(&["*", "billing"]),
            Err(MaskError::StarWithOthers)
        );
    }

    #[test]
    fn masks_name_whole_sections() {
        let set = SectionSet::from_mask(&["billing", " orders ", "cache"]).unwrap();
        assert_eq!(set, SectionSet::of(&[Section::Billing, Section::Orders]));
        assert_eq!(
            SectionSet::from_mask(&["billing.balance"]),
            Err(MaskError::UnknownPath("billing.balance".into()))
        );
        assert_eq!(
            SectionSet::from_mask(&["wallet"]),
            Err(MaskError::UnknownPath("wallet".into()))
        );
    }

    #[test]
    fn fields_are_named_by_their_path() {
        let set = FieldSet::from_paths(&[" billing.payment_methods"]).unwrap();
        assert!(set.contains(Field::PaymentMethods));
        assert_eq!(set, FieldSet::ALL);
        assert_eq!(FieldSet::from_paths::<&str>(&[]), Ok(FieldSet::NONE));
        assert_eq!(
            FieldSet::from_paths(&["billing"]),
            Err(MaskError::UnknownField("billing".into()))
        );
    }

    #[test]
    fn only_the_backends_a_mask_needs_are_asked_and_crm_always() {
        use SourceKind::*;
        let billing = SectionSet::of(&[Section::Billing]).sources();
        assert_eq!(billing, SourceSet::of(&[Billing, Crm]));
        let orders = SectionSet::of(&[Section::Orders]).sources();
        assert_eq!(orders, SourceSet::of(&[Orders, Fulfilment, Crm]));
        assert_eq!(SectionSet::NONE.sources(), SourceSet::of(&[Crm]));
        assert_eq!(
            SectionSet::of(&[Section::Insights]).sources(),
            SourceSet::ALL
        );
    }
}
