//! The decision inside every claim, the same for both stores: which candidates are claimed
//! now (their webhook's rate windows reserve a slot), which wait for a window, which are left
//! because another claim holds their webhook, and which lost their connection.

use std::collections::HashMap;

use crate::domain::rate_windows;

/// A due delivery found by a claim: its id, its connection's webhook hash (none when the
/// connection was deleted) and why the connection is disabled, if it is.
pub struct Candidate {
    pub id: i64,
    pub hash: Option<Vec<u8>>,
    pub disabled: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub claim: Vec<i64>,
    /// (delivery id, when its windows allow it).
    pub postpone: Vec<(i64, i64)>,
    /// How many were postponed by each window (the one holding them longest).
    pub postponed_by_window: [usize; rate_windows::WINDOWS.len()],
    /// The connection is gone or disabled: (delivery id, why).
    pub dead: Vec<(i64, String)>,
    pub busy: usize,
    /// Webhooks whose post times changed, to be written back.
    pub changed: Vec<Vec<u8>>,
}

/// Decides, in candidate order. `windows` holds the post times of every webhook this claim
/// holds (locked); a webhook missing from it is held by another claim.
pub fn plan(candidates: &[Candidate], windows: &mut HashMap<Vec<u8>, Vec<i64>>, now: i64) -> Plan {
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
        let at = rate_windows::next_allowed(posts, now);
        if at <= now {
            rate_windows::record(posts, now);
            plan.claim.push(c.id);
            if !plan.changed.contains(hash) {
                plan.changed.push(hash.clone());
            }
        } else {
            if let Some(w) = rate_windows::holding_window(posts, now) {
                plan.postponed_by_window[w] += 1;
            }
            plan.postpone.push((c.id, at));
        }
    }
    plan
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
            disabled: None,
        }
    }

    #[test]
    fn four_to_one_webhook_are_claimed_and_the_rest_wait_for_the_window() {
        let mut windows = HashMap::from([(b"a".to_vec(), Vec::new())]);
        let all: Vec<Candidate> = (1..=6).map(|i| candidate(i, Some(b"a"))).collect();
        let p = plan(&all, &mut windows, 10_000);
        assert_eq!(p.claim, vec![1, 2, 3, 4]);
        let wait = 10_000 + 1_000 + rate_windows::MARGIN_MS;
        assert_eq!(p.postpone, vec![(5, wait), (6, wait)]);
        assert_eq!(
            p.postponed_by_window,
            [2, 0, 0, 0, 0],
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
        let p = plan(&all, &mut windows, 0);
        assert_eq!((p.claim, p.busy), (vec![3], 1));
        assert_eq!(
            p.dead,
            vec![
                (2, ORPHANED.to_string()),
                (4, "the connection is disabled: webhook answered 410".into())
            ]
        );
    }
}
