//! Responses that are already bytes: a `CustomerProfile` (or a batch of them) assembled by the
//! server from sections it encoded ahead, written to the wire as it is.

use bytes::{Buf, BufMut, Bytes};
use prost::{
    DecodeError, Message,
    encoding::{self, DecodeContext, WireType},
};

/// An encoded `customer360.v1.CustomerProfile`, in parts that are written one after the
/// other: a cached body is shared, not copied, until the transport writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireProfile(Vec<Bytes>);

impl WireProfile {
    /// The profile made of these encoded fields, in order.
    pub fn from_parts(parts: Vec<Bytes>) -> Self {
        Self(parts)
    }

    /// The same, with `field` (an encoded field of the profile) after the rest: a message
    /// field that comes twice is merged by readers.
    pub fn push(&mut self, field: Bytes) {
        self.0.push(field);
    }

    /// The whole encoding in one buffer.
    pub fn to_bytes(&self) -> Bytes {
        match self.0.as_slice() {
            [one] => one.clone(),
            parts => Bytes::from(parts.concat()),
        }
    }

    fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

impl From<Bytes> for WireProfile {
    fn from(bytes: Bytes) -> Self {
        Self(vec![bytes])
    }
}

/// An encoded `customer360.v1.BatchGetCustomerProfilesResponse`: each profile's parts behind
/// its field header, shared as in [`WireProfile`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireBatch(WireProfile);

impl WireBatch {
    /// The batch of these profiles, in order.
    pub fn of(profiles: Vec<WireProfile>) -> Self {
        let parts = profiles.iter().map(|p| p.0.len() + 1).sum();
        let mut batch = Vec::with_capacity(parts);
        for profile in profiles {
            let mut header = Vec::with_capacity(6);
            encoding::encode_key(1, WireType::LengthDelimited, &mut header);
            encoding::encode_varint(profile.len() as u64, &mut header);
            batch.push(Bytes::from(header));
            batch.extend(profile.0);
        }
        Self(WireProfile(batch))
    }

    /// The whole encoding in one buffer.
    pub fn to_bytes(&self) -> Bytes {
        self.0.to_bytes()
    }
}

// Servers only send these; reading one back (which no server does) skips its fields.

impl Message for WireProfile {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for part in &self.0 {
            buf.put_slice(part);
        }
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
        self.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

impl Message for WireBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.0.encode_raw(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        self.0.merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate as pb;

    #[test]
    fn raw_profiles_and_batches_are_what_clients_decode() {
        let profile = pb::CustomerProfile {
            customer_id: "7".into(),
            ..Default::default()
        };
        let encoded = Bytes::from(profile.encode_to_vec());
        let wire = WireProfile::from_parts(vec![encoded.slice(..2), encoded.slice(2..)]);
        assert_eq!(wire.encode_to_vec(), profile.encode_to_vec());
        assert_eq!(wire.to_bytes(), encoded);
        let batch = WireBatch::of(vec![wire.clone(), wire]);
        assert_eq!(batch.encode_to_vec(), batch.to_bytes());
        let decoded =
            pb::BatchGetCustomerProfilesResponse::decode(batch.encode_to_vec().as_slice())
                .expect("a batch");
        assert_eq!(decoded.profiles, [profile.clone(), profile]);
    }
}
