//! Messages in the proto3 JSON mapping, as grpcurl prints them, read through the API's
//! descriptors.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use c360_proto as pb;

use super::ClientError;

/// `message` in the proto3 JSON mapping, as grpcurl prints it: fields at their default (0,
/// empty) left out.
pub(super) fn json(message: &impl Message, name: &str) -> Result<String, ClientError> {
    to_json(message, name, &SerializeOptions::new())
}

/// The same with every field, those at 0 included (grpcurl's `--emit-defaults`): a counter that
/// never moved is a figure too, and a script reading `.l1.errors` should find it.
pub(super) fn json_with_zeros(message: &impl Message, name: &str) -> Result<String, ClientError> {
    to_json(
        message,
        name,
        &SerializeOptions::new().skip_default_fields(false),
    )
}

fn to_json(
    message: &impl Message,
    name: &str,
    options: &SerializeOptions,
) -> Result<String, ClientError> {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
        .map_err(|e| ClientError::Json(e.to_string()))?;
    let descriptor = pool
        .get_message_by_name(name)
        .ok_or_else(|| ClientError::Json(format!("{name} is not in the descriptor set")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ClientError::Json(e.to_string()))?;
    let mut out = serde_json::Serializer::pretty(Vec::new());
    dynamic
        .serialize_with_options(&mut out, options)
        .map_err(|e| ClientError::Json(e.to_string()))?;
    String::from_utf8(out.into_inner()).map_err(|e| ClientError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_as_json_keep_the_counters_that_never_moved() {
        let stats = pb::CacheStats {
            l1: Some(pb::TierStats {
                hits: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = json_with_zeros(&stats, "customer360.v1.CacheStats").expect("json");
        let value: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(value["l1"]["hits"], "3", "int64 as a string: {text}");
        assert_eq!(value["l1"]["misses"], "0", "{text}");
        assert_eq!(value["l1"]["errors"], "0", "{text}");
        assert_eq!(value["shed"], "0", "{text}");
        assert_eq!(value["l2Enabled"], false, "{text}");
        let profile = json(&stats, "customer360.v1.CacheStats").expect("json");
        assert!(!profile.contains("misses"), "grpcurl's default: {profile}");
    }
}
