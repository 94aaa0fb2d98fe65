//! What a logical replication stream says changed: `pgoutput`'s messages (protocol version 1)
//! decoded as far as the feed needs — which customer, order or catalog item each row names.
//!
//! Begin, Commit and logical messages are framed by the replication client; this reads the
//! rest. A Relation message describes a table before its first row in a session, so the
//! decoder keeps, per relation id, which column names what changed. Rows arrive with every
//! column as text (the stream is not binary); an update of a table whose replica identity is
//! `FULL` also carries the old row, so that a row moved to another customer changes both.

use std::collections::HashMap;

use crate::core::vocab::SourceKind;

/// What a table's rows name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// A customer, by id, in this backend's tables.
    Customer(SourceKind),
    /// An order, by id: the customer is the order's.
    Order,
    /// A catalog item or a return policy.
    Catalog,
}

/// What the rows of a backend's tables name: a customer, in that backend.
const CRM: Names = Names::Customer(SourceKind::Crm);
const BILLING: Names = Names::Customer(SourceKind::Billing);
const ORDERS: Names = Names::Customer(SourceKind::Orders);
const FULFILMENT: Names = Names::Customer(SourceKind::Fulfilment);

/// The tables the feed follows, what their rows name, and in which column (as the triggers
/// of migration 0002 do).
const TABLES: &[(&str, Names, &str)] = &[
    ("customers", CRM, "id"),
    ("interactions", CRM, "customer_id"),
    ("billing_accounts", BILLING, "customer_id"),
    ("payment_methods", BILLING, "customer_id"),
    ("invoices", BILLING, "customer_id"),
    ("orders", ORDERS, "customer_id"),
    ("order_lines", Names::Order, "order_id"),
    ("shipments", FULFILMENT, "customer_id"),
    ("products", Names::Catalog, "sku"),
    ("return_policies", Names::Catalog, "category"),
];

/// One thing a row change names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Changed {
    /// This customer's profile, in this backend's tables.
    Customer(i64, SourceKind),
    /// The profile of this order's customer, in orders' tables.
    Order(i64),
    /// The catalog or the return policies.
    Catalog,
    /// A table of customers' data was truncated: every profile.
    Everything,
}

/// A message the stream should not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// Shorter than its fields say.
    #[error("pgoutput message truncated")]
    Truncated,
    /// A row of a relation no Relation message described.
    #[error("pgoutput row of relation {0} before its description")]
    UnknownRelation(u32),
    /// A part of the message that is none of those its protocol allows.
    #[error("pgoutput message with unexpected byte {0:#04x}")]
    Unexpected(u8),
}

/// A followed table, as its Relation message described it.
#[derive(Debug, Clone, Copy)]
struct Relation {
    names: Names,
    /// The column that names what changed; `None` for a table the feed does not follow.
    column: Option<usize>,
}

/// Decodes a stream's row messages, remembering its relations.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    relations: HashMap<u32, Relation>,
}

/// A cursor over one message.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated)?;
        let text = self.take(end)?;
        self.take(1)?;
        Ok(text)
    }

    /// The value of column `column` of the row that follows, as text; `None` when it is
    /// null, unchanged (TOAST) or beyond the row.
    fn tuple_column(&mut self, column: Option<usize>) -> Result<Option<&'a [u8]>, DecodeError> {
        let columns = usize::try_from(self.i16()?).map_err(|_| DecodeError::Truncated)?;
        let mut found = None;
        for index in 0..columns {
            let value = match self.u8()? {
                b'n' | b'u' => None,
                b't' | b'b' => {
                    let len = self.u32()? as usize;
                    Some(self.take(len)?)
                }
                other => return Err(DecodeError::Unexpected(other)),
            };
            if Some(index) == column {
                found = value;
            }
        }
        Ok(found)
    }
}

impl Decoder {
    /// What the message `data` says changed: nothing for a message that describes (a
    /// relation, a type, an origin) or a row of a table not followed.
    pub(super) fn decode(&mut self, data: &[u8]) -> Result<Vec<Changed>, DecodeError> {
        let mut bytes = Bytes(data);
        match bytes.u8()? {
            b'R' => {
                self.relation(&mut bytes)?;
                Ok(Vec::new())
            }
            b'I' => {
                let relation = self.relation_of(&mut bytes)?;
                expect(&mut bytes, b'N')?;
                let new = bytes.tuple_column(relation.column)?;
                Ok(named(relation, [new]))
            }
            b'U' => {
                let relation = self.relation_of(&mut bytes)?;
                let old = match bytes.u8()? {
                    b'K' | b'O' => {
                        let old = bytes.tuple_column(relation.column)?;
                        expect(&mut bytes, b'N')?;
                        old
                    }
                    b'N' => None,
                    other => return Err(DecodeError::Unexpected(other)),
                };
                let new = bytes.tuple_column(relation.column)?;
                Ok(named(relation, [new, old]))
            }
            b'D' => {
                let relation = self.relation_of(&mut bytes)?;
                match bytes.u8()? {
                    b'K' | b'O' => {}
                    other => return Err(DecodeError::Unexpected(other)),
                }
                let old = bytes.tuple_column(relation.column)?;
                Ok(named(relation, [old]))
            }
            b'T' => {
                let count = bytes.u32()?;
                let _options = bytes.u8()?;
                let mut changed = Vec::new();
                for _ in 0..count {
                    let relation = self.relation_of(&mut bytes)?;
                    match (relation.column, relation.names) {
                        (None, _) => {}
                        (Some(_), Names::Catalog) => changed.push(Changed::Catalog),
                        (Some(_), _) => changed.push(Changed::Everything),
                    }
                }
                changed.sort();
                changed.dedup();
                Ok(changed)
            }
            // Type, Origin, and anything a later protocol adds that carries no rows.
            b'Y' | b'O' => Ok(Vec::new()),
            other => Err(DecodeError::Unexpected(other)),
        }
    }

    fn relation(&mut self, bytes: &mut Bytes<'_>) -> Result<(), DecodeError> {
        let id = bytes.u32()?;
        let _namespace = bytes.string()?;
        let name = bytes.string()?;
        let _identity = bytes.u8()?;
        let columns = usize::try_from(bytes.i16()?).map_err(|_| DecodeError::Truncated)?;
        let followed = TABLES.iter().find(|(table, ..)| table.as_bytes() == name);
        let mut column = None;
        for index in 0..columns {
            let _flags = bytes.u8()?;
            let column_name = bytes.string()?;
            let _type = bytes.u32()?;
            let _modifier = bytes.u32()?;
            if followed.is_some_and(|(_, _, key)| key.as_bytes() == column_name) {
                column = Some(index);
            }
        }
        let relation = match followed {
            Some(&(_, names, _)) => Relation { names, column },
            None => Relation {
                names: Names::Catalog,
                column: None,
            },
        };
        self.relations.insert(id, relation);
        Ok(())
    }

    fn relation_of(&self, bytes: &mut Bytes<'_>) -> Result<Relation, DecodeError> {
        let id = bytes.u32()?;
        self.relations
            .get(&id)
            .copied()
            .ok_or(DecodeError::UnknownRelation(id))
    }
}

fn expect(bytes: &mut Bytes<'_>, tag: u8) -> Result<(), DecodeError> {
    match bytes.u8()? {
        found if found == tag => Ok(()),
        other => Err(DecodeError::Unexpected(other)),
    }
}

/// What the values of a relation's key column name (a value that is not a number names
/// nothing: no customer has it).
fn named<const N: usize>(relation: Relation, values: [Option<&[u8]>; N]) -> Vec<Changed> {
    if relation.column.is_none() {
        return Vec::new();
    }
    if relation.names == Names::Catalog {
        return vec![Changed::Catalog];
    }
    let mut changed: Vec<Changed> = values
        .into_iter()
        .flatten()
        .filter_map(|text| std::str::from_utf8(text).ok()?.parse::<i64>().ok())
        .filter_map(|id| match relation.names {
            Names::Order => Some(Changed::Order(id)),
            Names::Customer(kind) => Some(Changed::Customer(id, kind)),
            Names::Catalog => None,
        })
        .collect();
    changed.dedup();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Relation message for `table` with `columns`.
    fn relation(id: u32, table: &str, columns: &[&str]) -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend(id.to_be_bytes());
        m.extend(b"public\0");
        m.extend(table.as_bytes());
        m.push(0);
        m.push(b'f');
        m.extend((columns.len() as i16).to_be_bytes());
        for column in columns {
            m.push(0);
            m.extend(column.as_bytes());
            m.push(0);
            m.extend(20u32.to_be_bytes());
            m.extend(u32::MAX.to_be_bytes());
        }
        m
    }

    /// A row: `None` is a null.
    fn tuple(values: &[Option<&str>]) -> Vec<u8> {
        let mut m = (values.len() as i16).to_be_bytes().to_vec();
        for value in values {
            match value {
                None => m.push(b'n'),
                Some(text) => {
                    m.push(b't');
                    m.extend((text.len() as u32).to_be_bytes());
                    m.extend(text.as_bytes());
                }
            }
        }
        m
    }

    fn row(tag: u8, id: u32, parts: &[(u8, &[Option<&str>])]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend(id.to_be_bytes());
        for (kind, values) in parts {
            m.push(*kind);
            m.extend(tuple(values));
        }
        m
    }

    fn decoder() -> Decoder {
        let mut decoder = Decoder::default();
        let described = [
            relation(1, "orders", &["id", "customer_id", "status"]),
            relation(2, "order_lines", &["id", "order_id", "sku"]),
            relation(3, "products", &["sku", "name"]),
            relation(4, "audit_log", &["id", "customer_id"]),
            relation(5, "customers", &["id", "name"]),
            relation(6, "shipments", &["id", "customer_id", "carrier"]),
        ];
        for message in described {
            assert_eq!(decoder.decode(&message), Ok(vec![]));
        }
        decoder
    }

    #[test]
    fn an_insert_names_its_rows_customer_and_backend_or_order() {
        let mut d = decoder();
        let order = row(b'I', 1, &[(b'N', &[Some("7"), Some("42"), Some("paid")])]);
        assert_eq!(
            d.decode(&order),
            Ok(vec![Changed::Customer(42, SourceKind::Orders)])
        );
        let line = row(b'I', 2, &[(b'N', &[Some("1"), Some("7"), None])]);
        assert_eq!(d.decode(&line), Ok(vec![Changed::Order(7)]));
        let product = row(b'I', 3, &[(b'N', &[Some("SKU-1"), Some("Kettle")])]);
        assert_eq!(d.decode(&product), Ok(vec![Changed::Catalog]));
        let parcel = row(b'I', 6, &[(b'N', &[Some("3"), Some("42"), None])]);
        assert_eq!(
            d.decode(&parcel),
            Ok(vec![Changed::Customer(42, SourceKind::Fulfilment)])
        );
        let unfollowed = row(b'I', 4, &[(b'N', &[Some("1"), Some("42")])]);
        assert_eq!(d.decode(&unfollowed), Ok(vec![]));
    }

    #[test]
    fn an_update_that_moves_a_row_names_both_customers() {
        let mut d = decoder();
        let moved = row(
            b'U',
            1,
            &[
                (b'O', &[Some("7"), Some("41"), Some("paid")]),
                (b'N', &[Some("7"), Some("42"), Some("paid")]),
            ],
        );
        assert_eq!(
            d.decode(&moved),
            Ok(vec![
                Changed::Customer(42, SourceKind::Orders),
                Changed::Customer(41, SourceKind::Orders)
            ])
        );
        let stayed = row(
            b'U',
            1,
            &[
                (b'O', &[Some("7"), Some("42"), Some("new")]),
                (b'N', &[Some("7"), Some("42"), Some("paid")]),
            ],
        );
        assert_eq!(
            d.decode(&stayed),
            Ok(vec![Changed::Customer(42, SourceKind::Orders)])
        );
        let without_old = row(b'U', 5, &[(b'N', &[Some("9"), Some("Ada")])]);
        assert_eq!(
            d.decode(&without_old),
            Ok(vec![Changed::Customer(9, SourceKind::Crm)])
        );
    }

    #[test]
    fn a_delete_names_the_old_rows_customer() {
        let mut d = decoder();
        let full = row(b'D', 1, &[(b'O', &[Some("7"), Some("41"), Some("paid")])]);
        assert_eq!(
            d.decode(&full),
            Ok(vec![Changed::Customer(41, SourceKind::Orders)])
        );
        let key_only = row(b'D', 5, &[(b'K', &[Some("9"), None])]);
        assert_eq!(
            d.decode(&key_only),
            Ok(vec![Changed::Customer(9, SourceKind::Crm)])
        );
    }

    #[test]
    fn a_truncate_of_customers_data_names_everything() {
        let mut d = decoder();
        let mut truncate = vec![b'T'];
        truncate.extend(3u32.to_be_bytes());
        truncate.push(0);
        for id in [3u32, 1, 4] {
            truncate.extend(id.to_be_bytes());
        }
        assert_eq!(
            d.decode(&truncate),
            Ok(vec![Changed::Catalog, Changed::Everything])
        );
    }

    #[test]
    fn malformed_messages_are_refused_not_guessed() {
        let mut d = decoder();
        let order = row(b'I', 1, &[(b'N', &[Some("7"), Some("42"), Some("paid")])]);
        for cut in 1..order.len() {
            assert_eq!(
                d.decode(&order[..cut]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
        let unknown = row(b'I', 99, &[(b'N', &[Some("1")])]);
        assert_eq!(d.decode(&unknown), Err(DecodeError::UnknownRelation(99)));
        assert_eq!(d.decode(b"Z"), Err(DecodeError::Unexpected(b'Z')));
        assert_eq!(d.decode(b""), Err(DecodeError::Truncated));
    }

    #[test]
    fn a_key_that_is_not_a_number_names_nothing() {
        let mut d = decoder();
        let odd = row(b'I', 1, &[(b'N', &[Some("7"), Some("x42"), None])]);
        assert_eq!(d.decode(&odd), Ok(vec![]));
    }
}
