//! The background tasks that keep a replica's caches honest, each supervised
//! (`supervise.rs`): the catalog read again on a timer, the backends probed for health, with
//! Redis the repair of L2's unconfirmed invalidations and the invalidation bus, one
//! change-feed follower per backend database, the attention queue kept live with its
//! history tailed for watches, and the customers' conversations indexed for history search.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

use super::{
    AppError,
    backends::{self, Backends},
    config::Settings,
    probe::{self, Answering},
    supervise::{TaskState, supervise},
};
use crate::core::{
    attention::{Backlog, Live, Rules, Store, Tail},
    cache::{self, CacheStats, RedisCache, bus::BusSink, feed::FeedSink},
    db::{Db, PoolOptions},
    offers::{OfferStore, OfferTail},
    read::{Freshener, Profiles, refresh_catalog},
    search::{Cursor, History, follow},
    vocab::{PerSource, SourceKind},
};

/// Longest a change-feed query may run (they read a few rows; a stuck one is retried).
const FEED_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a statement finding whom the attention queue may hold may run (each reads an
/// index of a backend's table whole).
const BACKLOG_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest an attention statement may run (they touch one customer's items, or a page).
const ATTENTION_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a statement of the offers' ledger may run: its reads are small and indexed, a
/// recording holds its locks no longer than this.
const OFFERS_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a read of the messages table may run (a page of a few thousand, by id).
const SEARCH_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How often invalidations L2 did not confirm are retried.
const L2_REPAIR_EVERY: Duration = Duration::from_millis(500);

/// What the tasks work on.
pub(super) struct Context<'a> {
    pub(super) settings: &'a Settings,
    pub(super) backends: &'a Backends,
    pub(super) profiles: &'a Profiles,
    pub(super) l2: Option<RedisCache>,
    pub(super) stats: &'a CacheStats,
    pub(super) answering: Arc<Answering>,
}

/// The tasks started, and what readiness follows of them.
#[derive(Default)]
pub(super) struct Tasks {
    pub(super) handles: Vec<JoinHandle<()>>,
    /// Whether each task runs.
    pub(super) states: Vec<TaskState>,
    /// Whether each change feed is followed from a known position.
    pub(super) feeds: Vec<watch::Receiver<bool>>,
    /// The attention queue's history, tailed, when the queue is on.
    pub(super) attention: Option<Arc<Tail>>,
    /// The offers' ledger, followed, when offers are on.
    pub(super) offers: Option<Arc<OfferTail>>,
    /// The customers' conversations, indexed, when history search is on.
    pub(super) history: Option<Arc<History>>,
}

impl Tasks {
    fn add(&mut self, (handle, state): (JoinHandle<()>, TaskState)) {
        self.handles.push(handle);
        self.states.push(state);
    }
}

/// Starts every task the settings call for.
pub(super) async fn start(context: Context<'_>) -> Result<Tasks, AppError> {
    let mut tasks = Tasks::default();
    tasks.add(catalog_refresh(&context));
    tasks.add(backend_probe(&context));
    if let Some(l2) = &context.l2 {
        tasks.add(supervise(
            "L2 repair",
            {
                let l2 = l2.clone();
                move || l2.clone().keep_repairing(L2_REPAIR_EVERY)
            },
            || {},
        ));
        let (l2, sink) = (
            l2.clone(),
            Arc::new(freshener(&context)) as Arc<dyn BusSink>,
        );
        let listen = move || cache::bus::listen(l2.clone(), sink.clone());
        tasks.add(supervise("invalidation bus", listen, || {}));
    }
    if context.settings.feed.enabled {
        change_feeds(&context, &mut tasks).await?;
    }
    if context.settings.attention.enabled {
        attention(&context, &mut tasks).await?;
    }
    if context.settings.offers.enabled {
        offers(&context, &mut tasks).await?;
    }
    if context.settings.search.enabled {
        history(&context, &mut tasks)?;
    }
    Ok(tasks)
}

fn catalog_refresh(context: &Context<'_>) -> (JoinHandle<()>, TaskState) {
    let profiles = context.profiles.clone();
    let source = context.backends.catalog.clone();
    let settings = context.settings.catalog;
    let refresh = move || {
        let catalog = profiles.catalog().clone();
        refresh_catalog(source.clone(), catalog, profiles.clone(), settings)
    };
    supervise("catalog refresh", refresh, || {})
}

fn backend_probe(context: &Context<'_>) -> (JoinHandle<()>, TaskState) {
    let fanout = context.profiles.fanout().clone();
    let timeouts = PerSource::from_fn(|kind| context.settings.sources.of(kind).timeout);
    let answering = context.answering.clone();
    let probe = move || probe::keep_probing(fanout.clone(), timeouts, answering.clone());
    supervise("backend probe", probe, || {})
}

fn freshener(context: &Context<'_>) -> Freshener {
    Freshener {
        profiles: context.profiles.clone(),
        catalog: context.profiles.catalog().clone(),
        catalog_source: context.backends.catalog.clone(),
    }
}

/// One follower per backend database, each with its own small pool: a LISTEN, or a
/// leader's lock, holds a connection for good.
async fn change_feeds(context: &Context<'_>, tasks: &mut Tasks) -> Result<(), AppError> {
    let sink: Arc<dyn FeedSink> = Arc::new(freshener(context));
    let settings = context.settings.feed;
    for (url, backends) in backends::databases(context.settings) {
        let pool = PoolOptions {
            max_connections: 2,
            statement_timeout: Some(FEED_STATEMENT_TIMEOUT),
            ..PoolOptions::default()
        };
        let db = Db::connect_lazy(&url, pool)?;
        cache::feed::check_capture(&db, &settings, &backends).await?;
        let stats = context.stats.add_feed(backends);
        tasks.feeds.push(stats.started.subscribe());
        let sink = sink.clone();
        // A follower that stops is not following: the replica is not ready until a new one
        // has taken its position again.
        let stopped = stats.clone();
        tasks.add(supervise(
            "change feed",
            move || cache::feed::follow(db.clone(), sink.clone(), stats.clone(), settings),
            move || {
                stopped.started.send_replace(false);
            },
        ));
    }
    Ok(())
}

/// The backends' databases the attention queue is built from at start, a connection each:
/// their statements read a whole index, so they get minutes, not a read's deadline.
fn backlog(settings: &crate::app::config::Settings) -> Result<Backlog, crate::core::db::DbError> {
    let pool = PoolOptions {
        max_connections: 1,
        statement_timeout: Some(BACKLOG_STATEMENT_TIMEOUT),
        ..PoolOptions::default()
    };
    let of = |kind| Db::connect_lazy(&settings.sources.of(kind).url(&settings.database), pool);
    Ok(Backlog {
        fulfilment: of(SourceKind::Fulfilment)?,
        billing: of(SourceKind::Billing)?,
        crm: of(SourceKind::Crm)?,
    })
}

/// The attention queue, in its own small pool: kept live as the read path announces changes
/// and as time makes items true, and its history tailed for watches. Tables that are missing
/// stop the start (a database that does not answer yet does not: the queue waits for it).
async fn attention(context: &Context<'_>, tasks: &mut Tasks) -> Result<(), AppError> {
    let settings = &context.settings.attention;
    let url = settings.database_url.clone().unwrap_or_else(|| {
        let crm = context.settings.sources.of(SourceKind::Crm);
        crm.url(&context.settings.database)
    });
    let pool = PoolOptions {
        max_connections: 4,
        statement_timeout: Some(ATTENTION_STATEMENT_TIMEOUT),
        ..PoolOptions::default()
    };
    let store = Store::new(Db::connect_lazy(&url, pool)?);
    match store.last_recorded().await {
        Err(sqlx::Error::Database(error)) => {
            return Err(AppError::Attention(error.message().to_owned()));
        }
        Err(error) => {
            tracing::error!(%error, "attention: the queue's database does not answer yet")
        }
        Ok(_) => {}
    }
    let figures = store.figures().clone();
    let (read, from) = (figures.clone(), store.clone());
    tasks.add(supervise(
        "attention figures",
        move || read.clone().keep_reading(from.clone()),
        || {},
    ));
    let rules = Rules::new(settings).map_err(super::config::ConfigError::from)?;
    let backlog = Some(backlog(context.settings)?);
    let live = Live::new(context.profiles.clone(), store.clone(), rules, backlog);
    tasks.add(supervise("attention", move || live.clone().run(), || {}));
    let tail = Tail::new(store);
    let tailed = tail.clone();
    tasks.add(supervise(
        "attention history",
        move || tailed.clone().run(),
        || {},
    ));
    tasks.attention = Some(tail);
    Ok(())
}

/// The offers' ledger, in its own small pool, followed for the profiles' insights and the
/// ledger's watches. A ledger whose tables are missing stops the start (a database that does
/// not answer yet does not: calls wait for it).
async fn offers(context: &Context<'_>, tasks: &mut Tasks) -> Result<(), AppError> {
    let settings = &context.settings.offers;
    let url = settings.database_url.clone().unwrap_or_else(|| {
        let crm = context.settings.sources.of(SourceKind::Crm);
        crm.url(&context.settings.database)
    });
    let pool = PoolOptions {
        max_connections: 4,
        statement_timeout: Some(OFFERS_STATEMENT_TIMEOUT),
        ..PoolOptions::default()
    };
    let store = OfferStore::new(Db::connect_lazy(&url, pool)?);
    match store.check().await {
        Err(sqlx::Error::Database(error)) => {
            return Err(AppError::Offers(error.message().to_owned()));
        }
        Err(error) => tracing::error!(%error, "offers: the ledger's database does not answer yet"),
        Ok(()) => {}
    }
    let tail = OfferTail::new(store);
    let (followed, profiles) = (tail.clone(), context.profiles.clone());
    tasks.add(supervise(
        "offers' ledger",
        move || followed.clone().run(profiles.clone()),
        || {},
    ));
    tasks.offers = Some(tail);
    Ok(())
}

/// The customers' conversations indexed from CRM's database, in a small pool of their own:
/// every message at start, then each new one as it commits. Searches are answered once the
/// start's messages are in (`UNAVAILABLE` before); a database that does not answer yet is
/// waited for.
fn history(context: &Context<'_>, tasks: &mut Tasks) -> Result<(), AppError> {
    let crm = context.settings.sources.of(SourceKind::Crm);
    let url = crm.url(&context.settings.database);
    let pool = PoolOptions {
        max_connections: 2,
        statement_timeout: Some(SEARCH_STATEMENT_TIMEOUT),
        ..PoolOptions::default()
    };
    let db = Db::connect_lazy(&url, pool)?;
    let history = History::new().map_err(|e| AppError::Search(e.to_string()))?;
    let cursor = Arc::new(tokio::sync::Mutex::new(Cursor::default()));
    let (index, every) = (history.clone(), context.settings.search.poll_interval);
    tasks.add(supervise(
        "history search",
        move || follow(index.clone(), db.clone(), cursor.clone(), every),
        || {},
    ));
    tasks.history = Some(history);
    Ok(())
}
