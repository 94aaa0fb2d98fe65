//! The backends' enumerations and their protobuf form, each pair named once for both ways.

use c360_proto as pb;

use crate::core::records;

/// `From` the domain enum to the wire's, and `TryFrom` back (failing on the wire's
/// `UNSPECIFIED` and values this version does not know), for variants named alike.
macro_rules! both_ways {
    ($domain:ident => $wire:ident { $($variant:ident),+ $(,)? }) => {
        impl From<records::$domain> for pb::$wire {
            fn from(value: records::$domain) -> Self {
                match value {
                    $(records::$domain::$variant => Self::$variant),+
                }
            }
        }

        impl TryFrom<pb::$wire> for records::$domain {
            type Error = Unknown;

            fn try_from(value: pb::$wire) -> Result<Self, Unknown> {
                match value {
                    $(pb::$wire::$variant => Ok(Self::$variant),)+
                    _ => Err(Unknown),
                }
            }
        }
    };
}

/// A wire value with no domain counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown;

both_ways!(Tier => CustomerTier { Standard, Silver, Gold, Platinum });
both_ways!(ContactChannel => ContactChannel { Email, Phone, Sms, Chat });
both_ways!(InvoiceStatus => InvoiceStatus { Open, Paid, Overdue, PaymentFailed, Refunded });
both_ways!(OrderStatus => OrderStatus { Placed, Shipped, Delivered, Cancelled });
both_ways!(ShipmentStatus => ShipmentStatus {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
});
both_ways!(InteractionChannel => InteractionChannel { Ticket, Chat, Call, Email });
both_ways!(InteractionStatus => InteractionStatus { Open, Pending, Resolved, Closed });
both_ways!(InteractionPriority => InteractionPriority { Low, Normal, High, Urgent });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_comes_back_as_itself_and_unspecified_does_not_come_back() {
        for &tier in records::Tier::ALL {
            assert_eq!(
                records::Tier::try_from(pb::CustomerTier::from(tier)),
                Ok(tier)
            );
        }
        for &status in records::ShipmentStatus::ALL {
            let wire = pb::ShipmentStatus::from(status);
            assert_eq!(records::ShipmentStatus::try_from(wire), Ok(status));
        }
        for &status in records::InteractionStatus::ALL {
            let wire = pb::InteractionStatus::from(status);
            assert_eq!(records::InteractionStatus::try_from(wire), Ok(status));
        }
        assert_eq!(
            records::OrderStatus::try_from(pb::OrderStatus::Unspecified),
            Err(Unknown)
        );
    }
}
