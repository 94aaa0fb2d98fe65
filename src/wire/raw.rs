//! Responses that are already bytes: a `CustomerProfile` (or a batch of them) assembled from
//! the encoded sections the caches hold, written to the wire as it is.

use bytes::{Buf, BufMut, Bytes};
use prost::{
    DecodeError, Message,
    encoding::{self, DecodeContext, WireType},
};

/// An encoded `customer360.v1.CustomerProfile`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireProfile(pub Bytes);

/// An encoded `customer360.v1.BatchGetCustomerProfilesResponse`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireBatch(pub Bytes);

impl WireBatch {
    /// The batch of these profiles, in order.
    pub fn of(profiles: &[WireProfile]) -> Self {
        let len = profiles.iter().map(|p| p.0.len() + 6).sum();
        let mut out = Vec::with_capacity(len);
        for profile in profiles {
            encoding::encode_key(1, WireType::LengthDelimited, &mut out);
            encoding::encode_varint(profile.0.len() as u64, &mut out);
            out.put_slice(&profile.0);
        }
        Self(Bytes::from(out))
    }
}

/// Servers only send these: reading one back keeps the bytes as they are.
macro_rules! raw_message {
    ($name:ident) => {
        impl Message for $name {
            fn encode_raw(&self, buf: &mut impl BufMut) {
                buf.put_slice(&self.0);
            }

            fn merge_field(
                &mut self,
                tag: u32,
                wire_type: WireType,
                buf: &mut impl Buf,
                ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                encoding::skip_field(wire_type, tag, buf, ctx)
            }

            fn encoded_len(&self) -> usize {
                self.0.len()
            }

            fn clear(&mut self) {
                self.0 = Bytes::new();
            }
        }
    };
}

raw_message!(WireProfile);
raw_message!(WireBatch);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[test]
    fn raw_profiles_and_batches_are_what_clients_decode() {
        let profile = pb::CustomerProfile {
            customer_id: "7".into(),
            ..Default::default()
        };
        let wire = WireProfile(Bytes::from(profile.encode_to_vec()));
        assert_eq!(wire.encode_to_vec(), profile.encode_to_vec());
        let batch = WireBatch::of(&[wire.clone(), wire]);
        let decoded =
            pb::BatchGetCustomerProfilesResponse::decode(batch.encode_to_vec().as_slice())
                .expect("a batch");
        assert_eq!(decoded.profiles, [profile.clone(), profile]);
    }
}
