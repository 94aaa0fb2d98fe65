//! The backends' enumerations, stored as lower-case text in their tables.

use std::{fmt, str::FromStr};

use crate::core::vocab::InvalidValue;

/// An enum stored as lower-case text in the backends.
macro_rules! db_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[doc = concat!("Stored as `", $text, "`.")] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The text the backends store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(raw: &str) -> Result<Self, InvalidValue> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(InvalidValue::new(stringify!($name), raw)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

db_enum!(
    /// What a message of an interaction is.
    MessageKind { Message = "message", Transcript = "transcript", Note = "note" }
);
db_enum!(
    /// Who wrote or said a message.
    MessageAuthor { Customer = "customer", Agent = "agent" }
);
db_enum!(
    /// Loyalty tier.
    Tier { Standard = "standard", Silver = "silver", Gold = "gold", Platinum = "platinum" }
);
db_enum!(
    /// How a customer prefers to be contacted.
    ContactChannel { Email = "email", Phone = "phone", Sms = "sms", Chat = "chat" }
);
db_enum!(
    /// Invoice status.
    InvoiceStatus {
        Open = "open",
        Paid = "paid",
        Overdue = "overdue",
        PaymentFailed = "payment_failed",
        Refunded = "refunded",
    }
);
db_enum!(
    /// Order status.
    OrderStatus { Placed = "placed", Shipped = "shipped", Delivered = "delivered", Cancelled = "cancelled" }
);
db_enum!(
    /// Shipment status.
    ShipmentStatus {
        LabelCreated = "label_created",
        InTransit = "in_transit",
        OutForDelivery = "out_for_delivery",
        Delivered = "delivered",
        Exception = "exception",
    }
);
db_enum!(
    /// Where an interaction happened.
    InteractionChannel { Ticket = "ticket", Chat = "chat", Call = "call", Email = "email" }
);
db_enum!(
    /// Interaction status.
    InteractionStatus { Open = "open", Pending = "pending", Resolved = "resolved", Closed = "closed" }
);

db_enum!(
    /// How urgent an interaction is, as CRM ranks it.
    InteractionPriority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
);

impl InteractionStatus {
    /// Open or pending: the customer is still waiting for something.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_backend_text() {
        for status in ShipmentStatus::ALL {
            assert_eq!(status.as_str().parse::<ShipmentStatus>(), Ok(*status));
        }
        assert!("lost".parse::<ShipmentStatus>().is_err());
    }
}
