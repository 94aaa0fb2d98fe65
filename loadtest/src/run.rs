//! The engine: workers over shared HTTP/2 connections, closed loop or open loop, each worker
//! recording into its own histogram so that recording costs no contention.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use c360_proto::WireProfile;
use http::uri::PathAndQuery;
use indicatif::ProgressBar;
use rand::{SeedableRng, rngs::Xoshiro256PlusPlus};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

pub use crate::record::{Detail, Recorder, code_name, error_kind};
use crate::{
    calls::{Ids, ReadShape, Request, request},
    options::Plan,
    pace::{Pacer, Schedule},
};

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What was measured.
    pub recorder: Recorder,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// Why it ended: `normal` (every request sent), `timeout` (`-z` passed) or `cancel`
    /// (Ctrl-C), as ghz's `endReason`.
    pub end_reason: &'static str,
}

/// Runs `plan`: warm-up first, then the measured phase. `stop` ends it early (Ctrl-C).
pub async fn run(
    plan: &Plan,
    progress: &ProgressBar,
    stop: Arc<AtomicBool>,
) -> Result<RunResult, String> {
    let ids = Ids::new(plan.ids, plan.distribution)?;
    let endpoint = Endpoint::from_shared(plan.target.clone())
        .map_err(|_| format!("invalid address {:?}", plan.target))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true);
    // One eager connection says at once whether anybody is there; the others (and any
    // reconnection mid-run) are made as needed.
    let first = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", plan.target))?;
    let mut channels = vec![first];
    channels.extend((1..plan.connections).map(|_| endpoint.connect_lazy()));
    if let Some(warmup) = plan.warmup {
        let warm = Plan {
            total: None,
            duration: Some(warmup),
            skip_first: u64::MAX,
            details: false,
            ..plan.clone()
        };
        phase(&warm, &ids, &channels, &ProgressBar::hidden(), stop.clone()).await;
    }
    Ok(phase(plan, &ids, &channels, progress, stop).await)
}

async fn phase(
    plan: &Plan,
    ids: &Ids,
    channels: &[Channel],
    progress: &ProgressBar,
    stop: Arc<AtomicBool>,
) -> RunResult {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let wall = chrono::Utc::now();
    let end = plan.duration.map(|d| started + d);
    let pacer = plan.rps.map(|rps| {
        let schedule = Schedule {
            rps,
            total: plan.total,
            end: end.map(Instant::into_std),
            workers: plan.concurrency,
        };
        Arc::new(Pacer::start(started.into_std(), schedule, stop.clone()))
    });
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|worker| {
            let (plan, ids, next, stop) = (plan.clone(), ids.clone(), next.clone(), stop.clone());
            let pacer = pacer.clone();
            let mut client =
                RawClient::new(channels[worker % channels.len()].clone(), &plan.metadata);
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut rng =
                    Xoshiro256PlusPlus::seed_from_u64(plan.seed.wrapping_add(worker as u64));
                let shape = ReadShape {
                    sections: plan.sections.clone(),
                    bypass_cache: plan.bypass_cache,
                    batch_size: plan.batch_size,
                };
                let mut recorder = Recorder::new(plan.details, wall);
                loop {
                    if let Some(pacer) = &pacer {
                        pacer.due().await;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if plan.total.is_some_and(|total| i >= total) || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Open loop: the pacer released this request at its planned time, and its
                    // latency counts from then.
                    let planned = plan
                        .rps
                        .map(|rps| started + Duration::from_secs_f64(i as f64 / rps));
                    let due = planned.unwrap_or_else(Instant::now);
                    if end.is_some_and(|end| due >= end) {
                        break;
                    }
                    let call = plan.call.pick(&mut rng);
                    let request = request(call, i, &ids, &shape, &mut rng);
                    let sent = Instant::now();
                    let outcome = send(&mut client, request, plan.timeout).await;
                    let answered = Instant::now();
                    if i >= plan.skip_first {
                        recorder.record(
                            sent - started,
                            answered - planned.unwrap_or(sent),
                            outcome,
                        );
                    }
                    progress.inc(1);
                }
                recorder
            })
        })
        .collect();
    let mut recorder = Recorder::new(plan.details, wall);
    for worker in workers {
        if let Ok(done) = worker.await {
            recorder.merge(done);
        }
    }
    let sent_all = plan
        .total
        .is_some_and(|total| next.load(Ordering::Relaxed) >= total);
    let end_reason = if stop.load(Ordering::Relaxed) {
        "cancel"
    } else if sent_all {
        "normal"
    } else {
        "timeout"
    };
    RunResult {
        recorder,
        elapsed: started.elapsed(),
        end_reason,
    }
}

/// A client that sends typed requests and leaves the answers undecoded: the load generator
/// measures the server, not its own protobuf decoding (a profile decodes into dozens of
/// strings; a same-sized fixed payload into one).
#[derive(Debug, Clone)]
struct RawClient {
    grpc: tonic::client::Grpc<Channel>,
    /// Headers sent with every call (`-m`).
    metadata: tonic::metadata::MetadataMap,
}

impl RawClient {
    fn new(channel: Channel, metadata: &[(String, String)]) -> Self {
        let mut map = tonic::metadata::MetadataMap::new();
        for (key, value) in metadata {
            // Checked when the plan was made.
            if let (Ok(key), Ok(value)) = (
                tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
                tonic::metadata::AsciiMetadataValue::try_from(value.as_str()),
            ) {
                map.insert(key, value);
            }
        }
        Self {
            grpc: tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20),
            metadata: map,
        }
    }

    async fn call<M>(
        &mut self,
        path: http::uri::PathAndQuery,
        message: M,
        timeout: Duration,
    ) -> Result<(), tonic::Status>
    where
        M: prost::Message + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connection not ready: {e}")))?;
        // Any answer reads as a WireProfile: its fields are skipped, not decoded.
        let codec = tonic_prost::ProstCodec::<M, WireProfile>::default();
        let mut request = with_deadline(message, timeout);
        if !self.metadata.is_empty() {
            for entry in self.metadata.iter() {
                if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
                    request.metadata_mut().insert(key.clone(), value.clone());
                }
            }
        }
        self.grpc.unary(request, path, codec).await.map(drop)
    }
}

async fn send(
    client: &mut RawClient,
    request: Request,
    timeout: Duration,
) -> Result<(), tonic::Status> {
    let call = async {
        match request {
            Request::Get(r) => {
                client
                    .call(
                        PathAndQuery::from_static(
                            "/customer360.v1.CustomerService/GetCustomerProfile",
                        ),
                        r,
                        timeout,
                    )
                    .await
            }
            Request::Batch(r) => {
                client
                    .call(
                        PathAndQuery::from_static(
                            "/customer360.v1.CustomerService/BatchGetCustomerProfiles",
                        ),
                        r,
                        timeout,
                    )
                    .await
            }
            Request::Lookup(r) => {
                client
                    .call(
                        PathAndQuery::from_static(
                            "/customer360.v1.CustomerService/LookupCustomers",
                        ),
                        r,
                        timeout,
                    )
                    .await
            }
            Request::Search(r) => {
                client
                    .call(
                        PathAndQuery::from_static("/customer360.v1.HistoryService/SearchHistory"),
                        r,
                        timeout,
                    )
                    .await
            }
            Request::Fixed(fixed) => {
                // Checked when the plan was made: a path of the API's descriptors.
                let path = PathAndQuery::try_from(fixed.path.as_str())
                    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
                client
                    .call(path, Encoded(fixed.body.clone()), timeout)
                    .await
            }
        }
    };
    // The deadline travels as grpc-timeout; this guards against a server that ignores it.
    match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
        Ok(result) => result,
        Err(_) => Err(tonic::Status::deadline_exceeded(
            "no answer within the deadline",
        )),
    }
}

/// A request encoded ahead: its bytes are written as they are.
#[derive(Debug, Clone, Default, PartialEq)]
struct Encoded(bytes::Bytes);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent, never read.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

fn with_deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}
