//! Teams' rate windows per webhook: at most 4 posts a second, 60 in 30 seconds, 100 an hour,
//! 150 in 2 hours and 1800 a day. Over a window a delivery waits; it is never dropped.

use std::collections::{HashMap, VecDeque};

/// (window in ms, posts allowed in it).
pub const WINDOWS: [(i64, usize); 5] = [
    (1_000, 4),
    (30_000, 60),
    (3_600_000, 100),
    (7_200_000, 150),
    (86_400_000, 1_800),
];

/// Post times per webhook (by connection id), newest last, kept for the longest window.
#[derive(Default)]
pub struct RateWindows {
    posts: HashMap<String, VecDeque<i64>>,
}

impl RateWindows {
    /// When the next post to `key` may go: `now` if now.
    pub fn next_allowed(&mut self, key: &str, now: i64) -> i64 {
        let Some(times) = self.posts.get_mut(key) else {
            return now;
        };
        while times.front().is_some_and(|t| *t <= now - WINDOWS[4].0) {
            times.pop_front();
        }
        let mut at = now;
        for (window, limit) in WINDOWS {
            let in_window = times
                .iter()
                .rev()
                .take_while(|t| **t > now - window)
                .count();
            if in_window >= limit {
                // The oldest post inside the window must leave it first.
                let oldest = times[times.len() - limit];
                at = at.max(oldest + window);
            }
        }
        at
    }

    pub fn record(&mut self, key: &str, at: i64) {
        let times = self.posts.entry(key.to_string()).or_default();
        times.push_back(at);
        if times.len() > WINDOWS[4].1 + 1 {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_post_in_a_second_waits_for_the_first_to_leave_the_window() {
        let mut w = RateWindows::default();
        for i in 0..4 {
            assert_eq!(w.next_allowed("a", 1_000 + i), 1_000 + i);
            w.record("a", 1_000 + i);
        }
        assert_eq!(w.next_allowed("a", 1_010), 2_000);
        assert_eq!(w.next_allowed("b", 1_010), 1_010, "webhooks are separate");
    }

    #[test]
    fn the_hourly_window_holds_the_hundred_and_first_post() {
        let mut w = RateWindows::default();
        let mut t = 0;
        for _ in 0..100 {
            t = w.next_allowed("a", t);
            w.record("a", t);
        }
        assert!(t < 3_600_000);
        assert_eq!(
            w.next_allowed("a", t + 1),
            3_600_000,
            "the first post leaves the hour window"
        );
    }
}
