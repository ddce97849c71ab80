//! The decision inside every claim, the same for both stores: which candidates are claimed
//! now (their webhook's rate windows reserve a slot), which wait for a window, which are left
//! because another claim holds their webhook, and which lost their connection.

use std::collections::HashMap;

use crate::domain::rate_windows;

/// A due delivery found by a claim: its id and its connection's webhook hash (none when the
/// connection was deleted).
pub struct Candidate {
    pub id: i64,
    pub hash: Option<Vec<u8>>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub claim: Vec<i64>,
    /// (delivery id, when its windows allow it).
    pub postpone: Vec<(i64, i64)>,
    /// The connection is gone.
    pub orphaned: Vec<i64>,
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
            plan.orphaned.push(c.id);
            continue;
        };
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
        assert_eq!(windows[b"a".as_slice()].len(), 4);
        assert_eq!(p.changed, vec![b"a".to_vec()]);
    }

    #[test]
    fn a_webhook_held_elsewhere_is_skipped_and_a_deleted_connection_is_orphaned() {
        let mut windows = HashMap::from([(b"mine".to_vec(), Vec::new())]);
        let all = [
            candidate(1, Some(b"theirs")),
            candidate(2, None),
            candidate(3, Some(b"mine")),
        ];
        let p = plan(&all, &mut windows, 0);
        assert_eq!((p.claim, p.orphaned, p.busy), (vec![3], vec![2], 1));
    }
}
