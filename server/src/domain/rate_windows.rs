//! Teams' rate windows per webhook, counted as Teams counts them: at most 4 posts in any
//! 1 s, 60 in 30 s, 100 in an hour, 150 in 2 hours and 1,800 in a day. Sliding windows over
//! the post times (a token bucket would let twice a limit through one window). Over a
//! window a delivery waits; it is never dropped.

/// (window in ms, posts allowed in it).
pub const WINDOWS: [(i64, usize); 5] = [
    (1_000, 4),
    (30_000, 60),
    (3_600_000, 100),
    (7_200_000, 150),
    (86_400_000, 1_800),
];

/// Added to every window: a post leaves this process a little after its slot is reserved
/// and reaches Teams a little later still, so slots are kept this much further apart.
pub const MARGIN_MS: i64 = 200;

/// The longest window: older posts no longer count.
pub const KEEP_MS: i64 = WINDOWS[4].0 + MARGIN_MS;

/// When the next post may go, given earlier post times in ascending order: `now` if now.
pub fn next_allowed(posts: &[i64], now: i64) -> i64 {
    let mut at = now;
    for (window, limit) in WINDOWS {
        let span = window + MARGIN_MS;
        let in_window = posts.iter().rev().take_while(|t| **t > now - span).count();
        if in_window >= limit {
            // The oldest post inside the window must leave it first.
            let oldest = posts[posts.len() - limit];
            at = at.max(oldest + span);
        }
    }
    at
}

/// Which window (an index into [`WINDOWS`]) holds a post back longest now, if any.
pub fn holding_window(posts: &[i64], now: i64) -> Option<usize> {
    let mut held: Option<(usize, i64)> = None;
    for (i, (window, limit)) in WINDOWS.into_iter().enumerate() {
        let span = window + MARGIN_MS;
        let in_window = posts.iter().rev().take_while(|t| **t > now - span).count();
        if in_window >= limit {
            let until = posts[posts.len() - limit] + span;
            if held.is_none_or(|(_, u)| until > u) {
                held = Some((i, until));
            }
        }
    }
    held.map(|(i, _)| i)
}

/// Names of [`WINDOWS`] for people and metrics.
pub const WINDOW_NAMES: [&str; 5] = ["1s", "30s", "1h", "2h", "1d"];

/// Adds a post at `at` and forgets posts no window counts any more.
pub fn record(posts: &mut Vec<i64>, at: i64) {
    posts.push(at);
    let keep_from = posts.partition_point(|t| *t <= at - KEEP_MS);
    let over = posts.len().saturating_sub(WINDOWS[4].1 + 1);
    posts.drain(..keep_from.max(over));
}

/// How many of the windows posts arriving at `times_ms` (any order) exceeded, counted as
/// Teams counts them (without the margin): for tests and benchmarks, by a receiver's clock.
pub fn exceeded(times_ms: &[f64]) -> usize {
    let mut times = times_ms.to_vec();
    times.sort_by(|a, b| a.total_cmp(b));
    WINDOWS
        .iter()
        .filter(|(window, limit)| {
            times.iter().enumerate().any(|(i, t)| {
                times[i..]
                    .iter()
                    .take_while(|u| **u - *t < *window as f64)
                    .count()
                    > *limit
            })
        })
        .count()
}

/// Post times as stored in a text column: ascending, comma-separated.
pub fn encode(posts: &[i64]) -> String {
    let mut out = String::with_capacity(posts.len() * 14);
    for (i, t) in posts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&t.to_string());
    }
    out
}

pub fn decode(text: &str) -> Vec<i64> {
    text.split(',').filter_map(|t| t.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts as fast as the windows allow, from `start`.
    fn fill(posts: &mut Vec<i64>, n: usize, start: i64) -> i64 {
        let mut t = start;
        for _ in 0..n {
            t = next_allowed(posts, t);
            record(posts, t);
        }
        t
    }

    #[test]
    fn a_fifth_post_in_a_second_waits_for_the_first_to_leave_the_window() {
        let mut posts = Vec::new();
        for i in 0..4 {
            assert_eq!(next_allowed(&posts, 1_000 + i), 1_000 + i);
            record(&mut posts, 1_000 + i);
        }
        assert_eq!(next_allowed(&posts, 1_010), 2_000 + MARGIN_MS);
        assert_eq!(next_allowed(&[], 1_010), 1_010, "webhooks are separate");
    }

    #[test]
    fn the_hourly_window_holds_the_hundred_and_first_post() {
        let mut posts = Vec::new();
        let t = fill(&mut posts, 100, 0);
        assert!(t < 3_600_000);
        assert_eq!(
            next_allowed(&posts, t + 1),
            3_600_000 + MARGIN_MS,
            "the first post leaves the hour window"
        );
    }

    #[test]
    fn no_window_is_ever_exceeded_by_a_day_of_posting() {
        let mut posts = Vec::new();
        let mut all = Vec::new();
        let mut t = 0;
        while t < 2 * 86_400_000 {
            t = next_allowed(&posts, t);
            record(&mut posts, t);
            all.push(t);
        }
        for (window, limit) in WINDOWS {
            for (i, start) in all.iter().enumerate() {
                let inside = all[i..].iter().take_while(|u| **u - start < window).count();
                assert!(
                    inside <= limit,
                    "{inside} posts in {window} ms from {start}"
                );
            }
        }
        assert!(posts.len() <= WINDOWS[4].1 + 1, "only a day is kept");
    }

    #[test]
    fn a_fifth_card_within_a_second_is_one_exceeded_window() {
        assert_eq!(exceeded(&[0.0, 100.0, 200.0, 300.0, 1_000.0]), 0);
        assert_eq!(exceeded(&[0.0, 100.0, 200.0, 300.0, 999.0]), 1);
        assert_eq!(exceeded(&[999.0, 0.0, 300.0, 200.0, 100.0]), 1, "any order");
    }

    #[test]
    fn post_times_survive_their_text_form() {
        let posts = vec![1, 22, 333];
        assert_eq!(decode(&encode(&posts)), posts);
        assert!(decode("").is_empty());
    }
}
