//! The decision inside every claim, the same for both stores: which candidates are claimed
//! now (their webhook's rate windows reserve a slot), which wait for a window, which are left
//! because another claim holds their webhook, and which lost their connection. Each
//! webhook's windows are those of its kind, as stored beside its connection.

use std::collections::HashMap;

use crate::domain::rate_windows::{self, Limits, Windows};

/// A due delivery found by a claim: its id, its connection's webhook hash (none when the
/// connection was deleted), the webhook's kind as stored (`WebhookKind::name`; none for a
/// row not filled in yet) and why the connection is disabled, if it is.
pub struct Candidate {
    pub id: i64,
    pub hash: Option<Vec<u8>>,
    pub kind: Option<String>,
    pub disabled: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub claim: Vec<i64>,
    /// (delivery id, when its windows allow it).
    pub postpone: Vec<(i64, i64)>,
    /// How many were postponed by each window (the one holding them longest), in
    /// `rate_windows::NAMES` order.
    pub postponed_by_window: [usize; rate_windows::NAMES.len()],
    /// The connection is gone or disabled: (delivery id, why).
    pub dead: Vec<(i64, String)>,
    pub busy: usize,
    /// Webhooks whose post times changed, to be written back.
    pub changed: Vec<Vec<u8>>,
}

/// Decides, in candidate order. `windows` holds the post times of every webhook this claim
/// holds (locked); a webhook missing from it is held by another claim. `limits` gives each
/// kind's windows.
pub fn plan(
    candidates: &[Candidate],
    windows: &mut HashMap<Vec<u8>, Vec<i64>>,
    limits: &Limits,
    now: i64,
) -> Plan {
    let mut plan = Plan::default();
    for c in candidates {
        let Some(hash) = &c.hash else {
            plan.dead.push((c.id, ORPHANED.into()));
            continue;
        };
        if let Some(why) = &c.disabled {
            // Another instance saw the webhook gone: nothing more is posted to it.
            plan.dead
                .push((c.id, format!("the connection is disabled: {why}")));
            continue;
        }
        let Some(posts) = windows.get_mut(hash) else {
            plan.busy += 1;
            continue;
        };
        let set = limits.for_stored(c.kind.as_deref());
        let at = set.next_allowed(posts, now);
        if at <= now {
            set.record(posts, now);
            plan.claim.push(c.id);
            if !plan.changed.contains(hash) {
                plan.changed.push(hash.clone());
            }
        } else {
            let held = set.holding(posts, now);
            if let Some(i) = held.and_then(|h| rate_windows::NAMES.iter().position(|n| *n == h)) {
                plan.postponed_by_window[i] += 1;
            }
            plan.postpone.push((c.id, at));
        }
    }
    plan
}

/// What a reservation outside a claim (a test card) got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// A slot now in every row: post at once.
    Reserved,
    /// Nothing reserved: `window` of row `row` (its index) allows a post at `until_ms`.
    Wait {
        until_ms: i64,
        row: usize,
        window: &'static str,
    },
}

/// Reserves a post at `now` in every row (its post times, ascending, and its windows), or
/// in none: then the row and window that hold it longest, and until when.
pub fn reserve(rows: &mut [(Vec<i64>, &Windows)], now: i64) -> Reservation {
    let mut wait: Option<Reservation> = None;
    for (i, (posts, windows)) in rows.iter().enumerate() {
        let until_ms = windows.next_allowed(posts, now);
        let longer = match &wait {
            None => true,
            Some(Reservation::Wait { until_ms: u, .. }) => until_ms > *u,
            Some(Reservation::Reserved) => unreachable!("only waits are kept"),
        };
        if until_ms > now && longer {
            let window = windows.holding(posts, now).unwrap_or("");
            wait = Some(Reservation::Wait {
                until_ms,
                row: i,
                window,
            });
        }
    }
    if let Some(wait) = wait {
        return wait;
    }
    for (posts, windows) in rows.iter_mut() {
        windows.record(posts, now);
    }
    Reservation::Reserved
}

/// What a delivery whose connection was deleted is finished with.
pub const ORPHANED: &str = "the connection was deleted before the card could be posted";

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, hash: Option<&[u8]>) -> Candidate {
        Candidate {
            id,
            hash: hash.map(<[u8]>::to_vec),
            kind: Some("connector".into()),
            disabled: None,
        }
    }

    fn of_kind(id: i64, hash: &[u8], kind: Option<&str>) -> Candidate {
        Candidate {
            kind: kind.map(str::to_string),
            ..candidate(id, Some(hash))
        }
    }

    #[test]
    fn four_to_one_webhook_are_claimed_and_the_rest_wait_for_the_window() {
        let mut windows = HashMap::from([(b"a".to_vec(), Vec::new())]);
        let all: Vec<Candidate> = (1..=6).map(|i| candidate(i, Some(b"a"))).collect();
        let p = plan(&all, &mut windows, &Limits::default(), 10_000);
        assert_eq!(p.claim, vec![1, 2, 3, 4]);
        let wait = 10_000 + 1_000 + rate_windows::MARGIN_MS;
        assert_eq!(p.postpone, vec![(5, wait), (6, wait)]);
        assert_eq!(
            p.postponed_by_window,
            [2, 0, 0, 0, 0, 0],
            "the 1 s window held both"
        );
        assert_eq!(windows[b"a".as_slice()].len(), 4);
        assert_eq!(p.changed, vec![b"a".to_vec()]);
    }

    #[test]
    fn a_webhook_held_elsewhere_is_skipped_and_a_gone_connection_is_dead() {
        let mut windows = HashMap::from([(b"mine".to_vec(), Vec::new())]);
        let disabled = Candidate {
            disabled: Some("webhook answered 410".into()),
            ..candidate(4, Some(b"mine"))
        };
        let all = [
            candidate(1, Some(b"theirs")),
            candidate(2, None),
            candidate(3, Some(b"mine")),
            disabled,
        ];
        let p = plan(&all, &mut windows, &Limits::default(), 0);
        assert_eq!((p.claim, p.busy), (vec![3], 1));
        assert_eq!(
            p.dead,
            vec![
                (2, ORPHANED.to_string()),
                (4, "the connection is disabled: webhook answered 410".into())
            ]
        );
    }

    #[test]
    fn each_webhook_is_held_by_the_windows_of_its_kind() {
        let mut windows = HashMap::from([
            (b"flow".to_vec(), Vec::new()),
            (b"connector".to_vec(), Vec::new()),
            (b"old row".to_vec(), Vec::new()),
        ]);
        let mut all = Vec::new();
        for i in 0..10 {
            all.push(of_kind(i, b"flow", Some("workflows")));
            all.push(of_kind(100 + i, b"connector", Some("connector")));
            all.push(of_kind(200 + i, b"old row", None));
        }
        let p = plan(&all, &mut windows, &Limits::default(), 50_000);
        let claimed =
            |range: std::ops::Range<i64>| p.claim.iter().filter(|id| range.contains(id)).count();
        assert_eq!(claimed(0..100), 7, "the Flow bot's 7 a second");
        assert_eq!(claimed(100..200), 4, "the connector's 4 a second");
        assert_eq!(claimed(200..300), 4, "an unknown kind keeps both sets");
        let wait = |id: i64| p.postpone.iter().find(|(d, _)| *d == id).unwrap().1;
        assert_eq!(wait(7), 51_000 + rate_windows::MARGIN_MS);
        assert_eq!(wait(104), 51_000 + rate_windows::MARGIN_MS);
        assert_eq!(p.postponed_by_window, [3 + 6 + 6, 0, 0, 0, 0, 0]);
        // A second later: the flow's 8th may go, then its 2 s window holds the rest.
        let p = plan(&all[..3 * 9], &mut windows, &Limits::default(), 51_200);
        let flow: Vec<i64> = p.claim.iter().copied().filter(|id| *id < 100).collect();
        assert_eq!(flow.len(), 1, "{:?}", p.claim);
        assert_eq!(
            p.postponed_by_window[1], 8,
            "the 2 s window: {:?}",
            p.postponed_by_window
        );
    }

    #[test]
    fn a_reservation_takes_a_slot_in_every_row_or_in_none() {
        let (connector, per_target) = (
            Windows::connector(),
            Windows::new(&[rate_windows::Window {
                name: "1m",
                ms: 60_000,
                limit: 2,
            }]),
        );
        let (mut webhook, mut cards) = (Vec::new(), Vec::new());
        for t in [0, 10] {
            let mut rows = [(webhook, &connector), (cards, &per_target)];
            assert_eq!(reserve(&mut rows, t), Reservation::Reserved);
            [(webhook, _), (cards, _)] = rows;
        }
        let mut rows = [(webhook, &connector), (cards, &per_target)];
        assert_eq!(
            reserve(&mut rows, 20),
            Reservation::Wait {
                until_ms: 60_000 + rate_windows::MARGIN_MS,
                row: 1,
                window: "1m"
            }
        );
        assert_eq!(
            rows[0].0,
            vec![0, 10],
            "the webhook's windows kept nothing of it"
        );
    }
}
