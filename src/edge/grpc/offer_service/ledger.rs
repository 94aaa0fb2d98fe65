//! The ledger's transitions after an offer is recorded: `ApproveOffer` and `RejectOffer` by a
//! supervisor who did not make it, and `ListOffers`, the entries in order for the systems that
//! carry offers out, paged by tokens bound to what the listing was asked with.

use c360_proto as pb;
use tonic::Request;

use super::{OfferApi, now, store_failed, wire};
use crate::{
    core::offers::{OfferState, Settled},
    core::vocab::CustomerId,
    edge::grpc::{
        authorize::Trail,
        status::{ApiError, Violation},
        validate::{self, both},
    },
};

/// Most ledger entries a page holds.
const MAX_PAGE: i32 = 1000;

impl OfferApi {
    pub(super) async fn settle<T>(
        &self,
        rpc: &'static str,
        request: Request<T>,
        offer_id: &str,
        state: OfferState,
    ) -> Result<pb::Offer, ApiError> {
        let (trail, caller) = (Trail::of(&request), self.caller(&request));
        let answer = match wire::offer_id(offer_id) {
            Err(violations) => Err(ApiError::from(violations)),
            Ok(id) => {
                let request_id = trail.request_id();
                let settled =
                    self.tail
                        .store()
                        .settle(&id, state, &caller.name, &request_id, now());
                match settled.await.map_err(|e| store_failed(&e))? {
                    Settled::Done(offer) => Ok(wire::offer(&offer)),
                    Settled::NotFound => Err(ApiError::NotFound {
                        resource: "offer",
                        id,
                    }),
                    Settled::NotAwaiting(now) => Err(ApiError::FailedPrecondition(format!(
                        "offer {id} is {}, not awaiting approval",
                        now.as_str()
                    ))),
                    Settled::OwnOffer => Err(ApiError::FailedPrecondition(format!(
                        "offer {id} is your own: another supervisor settles it"
                    ))),
                }
            }
        };
        let customer = answer
            .as_ref()
            .map_or(String::new(), |o| o.customer_id.clone());
        let said = answer
            .as_ref()
            .ok()
            .map(|o| format!("{} {:?}", o.offer_id, o.state()));
        self.audit_call(&trail, rpc, &customer, &answer, said);
        answer
    }

    pub(super) async fn list(
        &self,
        request: Request<pb::ListOffersRequest>,
    ) -> Result<pb::ListOffersResponse, ApiError> {
        let trail = Trail::of(&request);
        let r = request.get_ref();
        let customer = match r.customer_id.is_empty() {
            true => Ok(None),
            false => validate::key::<CustomerId>("customer_id", &r.customer_id).map(Some),
        };
        let size = match r.page_size {
            0 => Ok(100),
            size @ 1..=MAX_PAGE => Ok(i64::from(size)),
            _ => Err(vec![Violation::new(
                "page_size",
                format!("must be from 1 to {MAX_PAGE}"),
            )]),
        };
        let answer = async {
            let (customer, size) = both(customer, size)?;
            let after = page_after(r, customer)?;
            let mut entries = (self
                .tail
                .store()
                .entries(after, customer, r.to_carry_out, size + 1)
                .await)
                .map_err(|e| store_failed(&e))?;
            let more = entries.len() as i64 > size;
            entries.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            let next_page_token = match (more, entries.last()) {
                (true, Some(last)) => page_token(last.position, customer, r.to_carry_out),
                _ => String::new(),
            };
            Ok(pb::ListOffersResponse {
                entries: entries.iter().map(wire::entry).collect(),
                next_page_token,
            })
        }
        .await;
        let said = answer
            .as_ref()
            .ok()
            .map(|a| format!("{} entries", a.entries.len()));
        self.audit_call(&trail, "ListOffers", &r.customer_id, &answer, said);
        answer
    }
}

/// A page token: where the page ends, and what it was asked with.
fn page_token(position: i64, customer: Option<CustomerId>, to_carry_out: bool) -> String {
    let customer = customer.map_or(0, CustomerId::get);
    format!("{position}.{customer}.{}", u8::from(to_carry_out))
}

/// The position a page starts after: the request's token's, else its `after_position`.
fn page_after(r: &pb::ListOffersRequest, customer: Option<CustomerId>) -> Result<i64, ApiError> {
    if r.after_position < 0 {
        return Err(Violation::new("after_position", "must not be negative").into());
    }
    if r.page_token.is_empty() {
        return Ok(r.after_position);
    }
    let position = r
        .page_token
        .split('.')
        .next()
        .and_then(|p| p.parse::<i64>().ok());
    match position {
        Some(position) if page_token(position, customer, r.to_carry_out) == r.page_token => {
            Ok(position)
        }
        _ => Err(Violation::new(
            "page_token",
            "is not a token of this listing (the same customer_id and to_carry_out)",
        )
        .into()),
    }
}
