//! What a load test sends: the calls, their mix, and the customer ids they ask for.

use std::{fmt, str::FromStr, sync::Arc};

use bytes::Bytes;
use c360_proto as pb;
use prost_reflect::{DescriptorPool, DynamicMessage};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Zipf};

/// What a request calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    /// `GetCustomerProfile`, for drawn ids.
    Get,
    /// `BatchGetCustomerProfiles`, for drawn ids.
    Batch,
    /// `LookupCustomers`, by drawn order ids.
    Lookup,
    /// `HistoryService.SearchHistory`, a drawn customer's history searched for one of
    /// [`SEARCHES`] in turn.
    Search,
    /// Any unary method of the API with the same body every time (ghz's `-d` and `-B`).
    Fixed(Arc<Fixed>),
}

/// A unary method and the encoded request it is sent.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Fixed {
    /// `package.Service.Method`.
    pub method: String,
    /// `/package.Service/Method`.
    pub path: String,
    /// The encoded request.
    pub body: Bytes,
}

/// The request body of a fixed call.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// The request in the proto3 JSON mapping (ghz's `-d`).
    Json(&'a str),
    /// The encoded request (ghz's `-B`, the file's bytes).
    Binary(&'a [u8]),
}

impl Fixed {
    /// `method` (`package.Service.Method` or `package.Service/Method`), a unary method of the
    /// API, with `body` checked against its request type and encoded.
    pub fn new(method: &str, body: Body<'_>) -> Result<Self, String> {
        let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
        let (service, name) = method
            .rsplit_once(['/', '.'])
            .filter(|(service, _)| service.contains('.'))
            .ok_or_else(|| {
                format!(
                    "{method:?} is not a full method name, e.g. customer360.v1.CatalogService.GetProduct"
                )
            })?;
        let found = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == name))
            .ok_or_else(|| format!("the API has no method {service}.{name}"))?;
        if found.is_client_streaming() || found.is_server_streaming() {
            return Err(format!(
                "{service}.{name} streams: only unary methods can be load-tested"
            ));
        }
        let input = found.input();
        let message = match body {
            Body::Json(json) => {
                let mut reader = serde_json::Deserializer::from_str(json);
                let message = DynamicMessage::deserialize(input.clone(), &mut reader)
                    .map_err(|e| format!("-d is not a {} in JSON: {e}", input.full_name()))?;
                reader
                    .end()
                    .map_err(|e| format!("-d: {e} after the {}", input.full_name()))?;
                message
            }
            Body::Binary(bytes) => DynamicMessage::decode(input.clone(), bytes)
                .map_err(|e| format!("-B is not an encoded {}: {e}", input.full_name()))?,
        };
        Ok(Self {
            method: format!("{service}.{name}"),
            path: format!("/{service}/{name}"),
            body: Bytes::from(prost::Message::encode_to_vec(&message)),
        })
    }
}

/// What `--call search` looks for, in turn: words, phrases and romanised words of the three
/// languages the seed's conversations are written in, common and rare.
pub const SEARCHES: &[&str] = &[
    "order",
    "refund",
    "\"loyalty points\"",
    "charger broken",
    "tracking",
    "delivery address",
    "रिफंड",
    "नहीं मिला",
    "অর্ডার",
    "এখনও আসেনি",
    "refund nahi mila",
    "order ekhono asheni",
    "payment failed",
    "invoice",
];

impl Call {
    fn parse(name: &str) -> Option<Self> {
        let method = name.rsplit(['.', '/']).next().unwrap_or(name);
        let service_ok = !name.contains(['.', '/'])
            || name.starts_with("customer360.v1.CustomerService")
            || name.starts_with("customer360.v1.HistoryService");
        if !service_ok {
            return None;
        }
        match method {
            "get" | "GetCustomerProfile" => Some(Self::Get),
            "batch" | "BatchGetCustomerProfiles" => Some(Self::Batch),
            "lookup" | "LookupCustomers" => Some(Self::Lookup),
            "search" | "SearchHistory" => Some(Self::Search),
            _ => None,
        }
    }

    /// The method's full name.
    pub fn method(&self) -> &str {
        match self {
            Self::Get => "customer360.v1.CustomerService.GetCustomerProfile",
            Self::Batch => "customer360.v1.CustomerService.BatchGetCustomerProfiles",
            Self::Lookup => "customer360.v1.CustomerService.LookupCustomers",
            Self::Search => "customer360.v1.HistoryService.SearchHistory",
            Self::Fixed(fixed) => &fixed.method,
        }
    }
}

/// Calls with weights.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMix(Vec<(Call, u32)>);

impl CallMix {
    /// One call, always.
    pub fn only(call: Call) -> Self {
        Self(vec![(call, 1)])
    }

    /// Picks a call by weight.
    pub fn pick(&self, rng: &mut impl Rng) -> &Call {
        if let [(only, _)] = self.0.as_slice() {
            return only;
        }
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut roll = rng.random_range(0..total);
        for (call, weight) in &self.0 {
            if roll < *weight {
                return call;
            }
            roll -= weight;
        }
        &self.0[0].0
    }
}

impl fmt::Display for CallMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(call, weight)| format!("{}={weight}", call.method()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for CallMix {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let unknown = |name: &str| {
            format!(
                "unknown call {name:?}: expected get, batch, lookup, a mix such as get=90,batch=10, or any unary method of the API by its full name with its request in -d (JSON) or -B (a binary file)"
            )
        };
        if !raw.contains('=') {
            return Call::parse(raw.trim())
                .map(|c| Self(vec![(c, 1)]))
                .ok_or_else(|| unknown(raw));
        }
        let mut mix = Vec::new();
        for part in raw.split(',') {
            let (name, weight) = part.split_once('=').ok_or_else(|| unknown(part))?;
            let call = Call::parse(name.trim()).ok_or_else(|| unknown(name))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name:?} must be a whole number"))?;
            mix.push((call, weight));
        }
        if mix.iter().map(|(_, w)| w).sum::<u32>() == 0 {
            return Err("a call mix needs a positive weight".into());
        }
        Ok(Self(mix))
    }
}

/// A range of customer ids, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub first: u64,
    pub last: u64,
}

impl FromStr for IdRange {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let bad =
            || format!("--ids {raw:?}: expected FIRST-LAST with 1 <= FIRST <= LAST, e.g. 1-100000");
        let (first, last) = raw.split_once('-').ok_or_else(bad)?;
        let (first, last): (u64, u64) = (
            first.trim().parse().map_err(|_| bad())?,
            last.trim().parse().map_err(|_| bad())?,
        );
        if first == 0 || first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

/// How ids are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IdDistribution {
    /// Every id alike.
    Uniform,
    /// Zipf with exponent s: the first ids of the range are the most frequent.
    Zipf(f64),
    /// Each id in turn, from the first, starting over after the last: request n asks for
    /// id n of the range, so n requests of at least the range's size cover all of it (a
    /// warm-up that leaves no id cold).
    Sequential,
}

impl FromStr for IdDistribution {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.split_once(':') {
            None if raw == "uniform" => Ok(Self::Uniform),
            None if raw == "sequential" => Ok(Self::Sequential),
            Some(("zipf", s)) => match s.parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => Ok(Self::Zipf(s)),
                _ => Err(format!(
                    "zipf exponent {s:?} must be a positive number, e.g. zipf:0.99"
                )),
            },
            _ => Err(format!(
                "--id-distribution {raw:?}: expected uniform, sequential or zipf:S"
            )),
        }
    }
}

/// Draws customer ids.
#[derive(Debug, Clone)]
pub struct Ids {
    range: IdRange,
    draw: Draw,
}

#[derive(Debug, Clone)]
enum Draw {
    Uniform,
    Zipf(Zipf<f64>),
    Sequential,
}

impl Ids {
    /// Ids from `range`, drawn as `distribution` says.
    pub fn new(range: IdRange, distribution: IdDistribution) -> Result<Self, String> {
        let draw = match distribution {
            IdDistribution::Uniform => Draw::Uniform,
            IdDistribution::Zipf(s) => {
                let n = (range.last - range.first + 1) as f64;
                Draw::Zipf(Zipf::new(n, s).map_err(|e| format!("zipf: {e}"))?)
            }
            IdDistribution::Sequential => Draw::Sequential,
        };
        Ok(Self { range, draw })
    }

    /// The id for the `n`th id asked for in the run (only the sequential order uses `n`).
    pub fn draw(&self, n: u64, rng: &mut impl Rng) -> u64 {
        match &self.draw {
            Draw::Uniform => rng.random_range(self.range.first..=self.range.last),
            Draw::Zipf(zipf) => self.range.first + zipf.sample(rng) as u64 - 1,
            // The range holds at most u64::MAX ids; a full range wraps on its own.
            Draw::Sequential => match (self.range.last - self.range.first).checked_add(1) {
                Some(len) => self.range.first + n % len,
                None => n,
            },
        }
    }
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub enum Request {
    /// `GetCustomerProfile`.
    Get(pb::GetCustomerProfileRequest),
    /// `BatchGetCustomerProfiles`.
    Batch(pb::BatchGetCustomerProfilesRequest),
    /// `LookupCustomers`.
    Lookup(pb::LookupCustomersRequest),
    /// `SearchHistory`.
    Search(pb::SearchHistoryRequest),
    /// The same encoded request each time.
    Fixed(Arc<Fixed>),
}

/// How profile reads are made.
#[derive(Debug, Clone)]
pub struct ReadShape {
    /// Read mask paths; empty for all.
    pub sections: Vec<String>,
    /// Skip the caches.
    pub bypass_cache: bool,
    /// Ids per batch.
    pub batch_size: usize,
}

/// Builds the run's `n`th request, a `call`.
pub fn request(call: &Call, n: u64, ids: &Ids, shape: &ReadShape, rng: &mut impl Rng) -> Request {
    let mask = (!shape.sections.is_empty()).then(|| prost_types::FieldMask {
        paths: shape.sections.clone(),
    });
    match call {
        Call::Get => Request::Get(pb::GetCustomerProfileRequest {
            customer_id: ids.draw(n, rng).to_string(),
            read_mask: mask,
            bypass_cache: shape.bypass_cache,
            ..Default::default()
        }),
        Call::Batch => Request::Batch(pb::BatchGetCustomerProfilesRequest {
            // Sequential batches take consecutive ids: batch n holds ids n·size to n·size + size − 1.
            customer_ids: (0..shape.batch_size as u64)
                .map(|k| {
                    let nth = n.wrapping_mul(shape.batch_size as u64).wrapping_add(k);
                    ids.draw(nth, rng).to_string()
                })
                .collect(),
            read_mask: mask,
            bypass_cache: shape.bypass_cache,
            ..Default::default()
        }),
        // The seed writes several orders per customer: order ids over the customer range hit.
        Call::Lookup => Request::Lookup(pb::LookupCustomersRequest {
            key: Some(pb::lookup_customers_request::Key::OrderId(
                ids.draw(n, rng).to_string(),
            )),
        }),
        Call::Search => Request::Search(pb::SearchHistoryRequest {
            customer_id: ids.draw(n, rng).to_string(),
            query: SEARCHES[(n % SEARCHES.len() as u64) as usize].to_owned(),
            ..Default::default()
        }),
        Call::Fixed(fixed) => Request::Fixed(fixed.clone()),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use rand::{SeedableRng, rngs::Xoshiro256PlusPlus};

    use super::*;

    #[test]
    fn a_search_asks_the_drawn_customer_for_each_query_in_turn() {
        for name in ["search", "customer360.v1.HistoryService.SearchHistory"] {
            assert_eq!(name.parse::<CallMix>(), Ok(CallMix::only(Call::Search)));
        }
        let ids = Ids::new("7-7".parse().unwrap(), IdDistribution::Uniform).unwrap();
        let shape = ReadShape {
            sections: Vec::new(),
            bypass_cache: false,
            batch_size: 1,
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let queries: Vec<String> = (0..SEARCHES.len() as u64 + 1)
            .map(
                |n| match request(&Call::Search, n, &ids, &shape, &mut rng) {
                    Request::Search(r) if r.customer_id == "7" => r.query,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(queries[..SEARCHES.len()], *SEARCHES);
        assert_eq!(queries[SEARCHES.len()], SEARCHES[0]);
    }

    #[test]
    fn calls_are_named_the_ghz_way_or_shortly() {
        for name in [
            "customer360.v1.CustomerService.GetCustomerProfile",
            "customer360.v1.CustomerService/GetCustomerProfile",
            "get",
        ] {
            assert_eq!(
                name.parse::<CallMix>(),
                Ok(CallMix(vec![(Call::Get, 1)])),
                "{name}"
            );
        }
        let mix: CallMix = "get=8,batch=1,lookup=1".parse().unwrap();
        assert_eq!(mix.0.len(), 3);
        assert!(
            "other.Service.GetCustomerProfile"
                .parse::<CallMix>()
                .is_err()
        );
        assert!("get=0".parse::<CallMix>().is_err());
    }

    #[test]
    fn any_unary_method_is_called_with_a_json_or_binary_body() {
        let json = Fixed::new(
            "customer360.v1.CatalogService/CheckReturnEligibility",
            Body::Json(r#"{"orderId":"12","sku":"SKU-1"}"#),
        )
        .unwrap();
        assert_eq!(
            json.path,
            "/customer360.v1.CatalogService/CheckReturnEligibility"
        );
        assert_eq!(
            json.method,
            "customer360.v1.CatalogService.CheckReturnEligibility"
        );
        let binary = Fixed::new(
            "customer360.v1.CatalogService.CheckReturnEligibility",
            Body::Binary(&json.body),
        )
        .unwrap();
        assert_eq!(binary.body, json.body);
        let decoded = pb::CheckReturnEligibilityRequest::decode(json.body.clone()).unwrap();
        assert_eq!(
            (decoded.order_id.as_str(), decoded.sku.as_str()),
            ("12", "SKU-1")
        );

        for (method, body, why) in [
            ("customer360.v1.CatalogService.Nope", "{}", "no method"),
            ("GetCustomerProfile", "{}", "not a full method name"),
            (
                "customer360.v1.CustomerService.WatchCustomerProfile",
                "{}",
                "streams",
            ),
            (
                "customer360.v1.CustomerService.GetCustomerProfile",
                r#"{"nope":1}"#,
                "-d is not",
            ),
            (
                "customer360.v1.CustomerService.GetCustomerProfile",
                "{} {}",
                "after the",
            ),
        ] {
            let error = Fixed::new(method, Body::Json(body)).unwrap_err();
            assert!(error.contains(why), "{method} {body}: {error}");
        }
        let error = Fixed::new(
            "customer360.v1.CustomerService.GetCustomerProfile",
            Body::Binary(&[0xff, 0xff]),
        )
        .unwrap_err();
        assert!(error.contains("-B is not"), "{error}");
    }

    #[test]
    fn a_mix_is_drawn_by_weight() {
        let mix: CallMix = "get=9,batch=1".parse().unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let gets = (0..10_000)
            .filter(|_| *mix.pick(&mut rng) == Call::Get)
            .count();
        assert!((8_700..9_300).contains(&gets), "{gets}");
    }

    #[test]
    fn zipf_ids_favour_the_start_of_the_range_and_stay_in_it() {
        let range: IdRange = "101-1100".parse().unwrap();
        let ids = Ids::new(range, IdDistribution::Zipf(0.99)).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let drawn: Vec<u64> = (0..20_000).map(|n| ids.draw(n, &mut rng)).collect();
        assert!(drawn.iter().all(|id| (101..=1100).contains(id)));
        let first = drawn.iter().filter(|id| **id == 101).count();
        let middle = drawn.iter().filter(|id| **id == 600).count();
        assert!(first > 20 * middle.max(1), "{first} vs {middle}");
    }

    #[test]
    fn sequential_ids_cover_the_range_in_turn_and_start_over() {
        let range: IdRange = "5-7".parse().unwrap();
        let ids = Ids::new(range, IdDistribution::Sequential).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let drawn: Vec<u64> = (0..7).map(|n| ids.draw(n, &mut rng)).collect();
        assert_eq!(drawn, [5, 6, 7, 5, 6, 7, 5]);
        let shape = ReadShape {
            sections: Vec::new(),
            bypass_cache: false,
            batch_size: 2,
        };
        let Request::Batch(batch) = request(&Call::Batch, 1, &ids, &shape, &mut rng) else {
            panic!("a batch was asked for");
        };
        assert_eq!(batch.customer_ids, ["7", "5"]);
        assert_eq!(
            "sequential".parse::<IdDistribution>(),
            Ok(IdDistribution::Sequential)
        );
    }
}
