//! Whether the replica is ready, followed as it changes rather than polled: every change feed
//! followed from a known position, every background task running (the services' health
//! entries), and at least one backend answering (the overall entry). Each input is a watch
//! its owner updates; one task waits on all of them and publishes what health reports.

use futures::future::{BoxFuture, select_all};
use tokio::{sync::watch, task::JoinHandle};

use super::{probe::any_answers, supervise::TaskState};
use crate::{core::vocab::PerSource, edge::server::Readiness};

/// What readiness is made of.
pub(super) struct Inputs {
    /// Whether each change feed is followed from a known position.
    pub(super) feeds: Vec<watch::Receiver<bool>>,
    /// Whether each background task runs.
    pub(super) tasks: Vec<TaskState>,
    /// Whether each backend answers.
    pub(super) answering: watch::Receiver<PerSource<bool>>,
}

impl Inputs {
    fn readiness(&self) -> Readiness {
        let down: Vec<&'static str> = self
            .tasks
            .iter()
            .filter(|task| !*task.up.borrow())
            .map(|task| task.name)
            .collect();
        Readiness {
            ready: down.is_empty() && self.feeds.iter().all(|feed| *feed.borrow()),
            backends_answer: any_answers(&self.answering.borrow()),
            down,
        }
    }

    /// Until one of the inputs changes; `false` once one's owner is gone (the app is being
    /// dropped).
    async fn changed(&mut self) -> bool {
        type Change<'a> = BoxFuture<'a, Result<(), watch::error::RecvError>>;
        let mut changes: Vec<Change<'_>> = Vec::new();
        changes.push(Box::pin(self.answering.changed()));
        changes.extend(
            self.feeds
                .iter_mut()
                .map(|feed| Box::pin(feed.changed()) as Change<'_>),
        );
        let tasks = self.tasks.iter_mut();
        changes.extend(tasks.map(|task| Box::pin(task.up.changed()) as Change<'_>));
        select_all(changes).await.0.is_ok()
    }
}

/// Readiness as it changes, and the task that follows it.
pub(super) fn follow(mut inputs: Inputs) -> (watch::Receiver<Readiness>, JoinHandle<()>) {
    let (publish, readiness) = watch::channel(inputs.readiness());
    let follower = tokio::spawn(async move {
        while inputs.changed().await {
            let now = inputs.readiness();
            publish.send_if_modified(|published| {
                let changed = *published != now;
                *published = now;
                changed
            });
        }
    });
    (readiness, follower)
}
