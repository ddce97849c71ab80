//! An instance's delivery loop. It claims only as many deliveries as it has free workers
//! (each claim reserved a rate-window slot for now, so each is posted at once), records
//! outcomes in batches, and on stop hands back what it could not finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::{attempt, Clients, Schedule};
use crate::clock::now_ms;
use crate::domain::rate_windows::Limits;
use crate::store::{Finish, Outbox, Outcome, Wake};

/// Deliveries claimed in one transaction at most.
const MAX_CLAIM: usize = 256;
/// Outcomes recorded in one transaction at most.
const MAX_FINISH: usize = 512;

/// How an instance delivers.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// How long one webhook answer may take.
    pub timeout: Duration,
    /// How long a claim lasts; at least twice the time-out plus a margin (checked at start).
    pub lease: Duration,
    /// Posts in flight at once.
    pub concurrency: usize,
    /// How long posts in flight may go on after a stop before they are handed back.
    pub grace: Duration,
    /// The backstop when no wake-up comes.
    pub poll: Duration,
    pub schedule: Schedule,
    /// Delivered rows older than this are pruned; `None` keeps them.
    pub retention: Option<Duration>,
    /// Tokens for flows that take only signed-in callers, when configured.
    pub flow_tokens: Option<Arc<super::FlowTokens>>,
    /// Each webhook kind's rate windows (the Workflows daily budget from the flag).
    pub windows: Limits,
}

/// What the loop did, for tests and the benchmark (the metrics count the same events).
#[derive(Debug, Default)]
pub struct Counters {
    pub claimed: AtomicU64,
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    /// Over a rate window when claimed: moved to when the window allows.
    pub postponed: AtomicU64,
    /// Outcomes recorded with a fencing token that was no longer current: they changed
    /// nothing (another claim owned the delivery by then).
    pub stale_finishes: AtomicU64,
    /// Claims returned on stop.
    pub handed_back: AtomicU64,
}

/// An outcome on its way to the database, with the worker slot it keeps busy until then
/// (so what a crash can repeat is at most `concurrency` posts).
struct Done {
    finish: Finish,
    _slot: OwnedSemaphorePermit,
}

/// Runs until `stop` turns true, then stops claiming, gives posts in flight `grace` to
/// end, and hands back the rest.
pub async fn run(
    outbox: Arc<dyn Outbox>,
    wake: Wake,
    config: DeliveryConfig,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let clients = Clients::new(config.timeout, config.flow_tokens.clone());
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
    let finisher = tokio::spawn(finisher(outbox.clone(), done_rx, counters.clone()));
    // Claims being posted: (delivery id -> token), to hand back on stop.
    let in_flight: Arc<Mutex<HashMap<i64, i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let lease_ms = config.lease.as_millis() as i64;
    loop {
        if *stop.borrow() {
            break;
        }
        let first = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let mut held = vec![first];
        // Slots free up a finished batch at a time: take all that are free.
        while held.len() < config.concurrency.min(MAX_CLAIM) {
            match slots.clone().try_acquire_owned() {
                Ok(slot) => held.push(slot),
                Err(_) => break,
            }
        }
        let wanted = held.len();
        let claimed = match outbox
            .claim(now_ms(), wanted, lease_ms, &config.windows)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim deliveries");
                drop(held);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                    _ = stop.changed() => {},
                }
                continue;
            }
        };
        let got = claimed.due.len();
        counters.claimed.fetch_add(got as u64, Ordering::Relaxed);
        counters
            .postponed
            .fetch_add(claimed.postponed as u64, Ordering::Relaxed);
        crate::metrics::postponed(&claimed.postponed_by_window);
        for (due, slot) in claimed.due.into_iter().zip(held.drain(..)) {
            in_flight
                .lock()
                .expect("in-flight lock")
                .insert(due.delivery_id, due.token);
            let (clients, done_tx, in_flight) =
                (clients.clone(), done_tx.clone(), in_flight.clone());
            let schedule = config.schedule;
            tasks.spawn(async move {
                let (outcome, code) = attempt(&due, &clients, schedule).await;
                if let Outcome::Dead { error } | Outcome::Disable { error } = &outcome {
                    tracing::warn!(entity_id = %due.entity_id, event_id = %due.event_id, %error, "delivery failed for good");
                }
                in_flight
                    .lock()
                    .expect("in-flight lock")
                    .remove(&due.delivery_id);
                let finish = Finish {
                    delivery_id: due.delivery_id,
                    token: due.token,
                    outcome,
                    code,
                };
                let _ = done_tx.send(Done {
                    finish,
                    _slot: slot,
                });
            });
        }
        drop(held);
        while tasks.try_join_next().is_some() {}
        if got < wanted {
            // Nothing more is due now: wait for a wake-up, the next due time or the poll.
            let wait = claimed
                .next_due_ms
                .map(|t| Duration::from_millis((t - now_ms()).max(5) as u64))
                .unwrap_or(config.poll)
                .min(config.poll);
            tokio::select! {
                _ = wake.woken() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = stop.changed() => {},
            }
        }
    }

    let _ = tokio::time::timeout(config.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let left: Vec<(i64, i64)> = in_flight.lock().expect("in-flight lock").drain().collect();
    if !left.is_empty() {
        match outbox.hand_back(left).await {
            Ok(n) => {
                counters.handed_back.fetch_add(n as u64, Ordering::Relaxed);
                tracing::info!(handed_back = n, "handed back unfinished deliveries");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot hand back deliveries; they return when their lease ends")
            }
        }
    }
    drop(done_tx);
    let _ = finisher.await;
}

/// Records outcomes as they come, as many per transaction as have arrived meanwhile.
async fn finisher(
    outbox: Arc<dyn Outbox>,
    mut rx: mpsc::UnboundedReceiver<Done>,
    counters: Arc<Counters>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_FINISH {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let finishes: Vec<Finish> = batch.iter().map(|d| d.finish.clone()).collect();
        for tries in 1.. {
            match outbox.finish(finishes.clone(), now_ms()).await {
                Ok(stale) => {
                    count(&counters, &finishes, &stale);
                    break;
                }
                Err(e) if tries < 30 => {
                    tracing::error!(error = %e, "cannot record delivery outcomes; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "gave up recording delivery outcomes; they are posted again when their lease ends");
                    break;
                }
            }
        }
        // The slots free only now, all at once, so the next claim can fill them in one go.
        let mut slots = batch.into_iter().map(|d| d._slot);
        if let Some(mut all) = slots.next() {
            for slot in slots {
                all.merge(slot);
            }
            drop(all);
        }
    }
}

fn count(counters: &Counters, finishes: &[Finish], stale: &[i64]) {
    if !stale.is_empty() {
        // The one place a stale fencing token is seen.
        counters
            .stale_finishes
            .fetch_add(stale.len() as u64, Ordering::Relaxed);
        crate::metrics::leases_lost(stale.len());
        tracing::warn!(
            count = stale.len(),
            "outcomes came after their claim's lease ended and another claim took the deliveries; nothing was changed"
        );
    }
    for f in finishes.iter().filter(|f| !stale.contains(&f.delivery_id)) {
        let (counter, outcome) = match &f.outcome {
            Outcome::Delivered => (&counters.delivered, "delivered"),
            Outcome::Retry { error, .. } if super::throttled(error) => {
                (&counters.retried, "throttled")
            }
            Outcome::Retry { .. } => (&counters.retried, "retried"),
            Outcome::Dead { .. } => (&counters.dead, "dead"),
            Outcome::Disable { .. } => (&counters.dead, "disabled"),
        };
        crate::metrics::delivery_outcome(outcome);
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prunes delivered rows older than `retention` now and every hour (one instance at a time
/// does it).
pub async fn prune_forever(outbox: Arc<dyn Outbox>, retention: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        every.tick().await;
        let now = now_ms();
        match outbox.prune(now - retention.as_millis() as i64, now).await {
            Ok(Some(p)) if p.deliveries + p.events > 0 => {
                tracing::info!(
                    deliveries = p.deliveries,
                    events = p.events,
                    "pruned delivered rows past the retention"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot prune delivered rows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_outcome_is_counted_as_stale_and_not_as_what_it_said() {
        let counters = Counters::default();
        let finish = |delivery_id, outcome| Finish {
            delivery_id,
            token: 1,
            outcome,
            code: None,
        };
        let finishes = [
            finish(1, Outcome::Delivered),
            finish(2, Outcome::Delivered),
            finish(3, Outcome::Dead { error: "x".into() }),
        ];
        count(&counters, &finishes, &[2]);
        assert_eq!(counters.stale_finishes.load(Ordering::Relaxed), 1);
        assert_eq!(counters.delivered.load(Ordering::Relaxed), 1);
        assert_eq!(counters.dead.load(Ordering::Relaxed), 1);
    }
}
