//! Teams' rate windows per webhook, by the webhook's kind, counted as Teams counts them:
//! sliding windows over the post times (a token bucket would let twice a limit through one
//! window). Over a window a delivery waits; it is never dropped.
//!
//! - Connector webhooks: at most 4 posts in any 1 s, 60 in 30 s, 100 in an hour, 150 in
//!   2 hours and 1,800 in a day (msteams-docs connectors-using.md, "Rate limiting for
//!   connectors").
//! - Workflows webhooks: the flow posts as the Flow bot, so the bot's per-thread limits apply
//!   (7 in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in an hour: msteams-docs bots/how-to/rate-limit.md),
//!   plus a daily budget per flow the operator sets (Power Automate's "Low" plan allows
//!   10,000 Power Platform requests a day per flow, and each run spends about four).

use connector_settings::webhook::WebhookKind;

/// A window: at most `limit` posts in any `ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// One of [`NAMES`], for people and metrics.
    pub name: &'static str,
    pub ms: i64,
    pub limit: usize,
}

const fn window(name: &'static str, ms: i64, limit: usize) -> Window {
    Window { name, ms, limit }
}

const SECOND: i64 = 1_000;
const HOUR: i64 = 3_600 * SECOND;
const DAY: i64 = 24 * HOUR;

/// The connector webhooks' windows.
pub const CONNECTOR: [Window; 5] = [
    window("1s", SECOND, 4),
    window("30s", 30 * SECOND, 60),
    window("1h", HOUR, 100),
    window("2h", 2 * HOUR, 150),
    window("1d", DAY, 1_800),
];

/// The Flow bot's per-thread windows; Workflows webhooks add their daily budget to them.
pub const FLOW_BOT: [Window; 4] = [
    window("1s", SECOND, 7),
    window("2s", 2 * SECOND, 8),
    window("30s", 30 * SECOND, 60),
    window("1h", HOUR, 1_800),
];

/// Posts a day to one Workflows webhook unless the operator says otherwise: a quarter of
/// the "Low" plan's 10,000 requests, as each run of Teams' template spends about four
/// (trigger, foreach, post).
pub const DEFAULT_DAILY_BUDGET: usize = 2_500;
/// The most a flow on the "Low" plan can be asked for a day (one request a run at best).
pub const MAX_DAILY_BUDGET: usize = 10_000;

/// The name of every window of either set, shortest first: the metrics' labels.
pub const NAMES: [&str; 6] = ["1s", "2s", "30s", "1h", "2h", "1d"];

/// Added to every window: a post leaves this process a little after its slot is reserved
/// and reaches Teams a little later still, so slots are kept this much further apart.
pub const MARGIN_MS: i64 = 200;

/// No window is longer than a day: a post older than this counts in none of them.
pub const KEEP_MS: i64 = DAY + MARGIN_MS;

/// A set of windows, all of which a post must fit (none longer than a day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows(Vec<Window>);

impl Windows {
    pub fn new(windows: &[Window]) -> Windows {
        assert!(
            windows.iter().all(|w| w.ms <= DAY),
            "a window longer than a day would be pruned before it ends"
        );
        Windows(windows.to_vec())
    }

    /// Connector webhooks' windows.
    pub fn connector() -> Windows {
        Windows::new(&CONNECTOR)
    }

    /// The app's own bot in one thread (conversation): the same per-bot, per-thread limits
    /// as the Flow bot's (msteams-docs bots/how-to/rate-limit.md), without a daily budget.
    pub fn bot_thread() -> Windows {
        Windows::new(&FLOW_BOT)
    }

    /// Workflows webhooks' windows: the Flow bot's and `daily_budget` posts a day.
    pub fn workflows(daily_budget: usize) -> Windows {
        let mut list = FLOW_BOT.to_vec();
        list.push(window("1d", DAY, daily_budget));
        Windows(list)
    }

    pub fn list(&self) -> &[Window] {
        &self.0
    }

    /// Posts in `window` before `now` (`posts` ascending).
    fn count(posts: &[i64], w: &Window, now: i64) -> usize {
        let span = w.ms + MARGIN_MS;
        posts.len() - posts.partition_point(|t| *t <= now - span)
    }

    /// When the next post may go, given earlier post times in ascending order: `now` if now.
    pub fn next_allowed(&self, posts: &[i64], now: i64) -> i64 {
        self.0
            .iter()
            .filter(|w| Self::count(posts, w, now) >= w.limit)
            // The oldest post inside the window must leave it first.
            .map(|w| posts[posts.len() - w.limit] + w.ms + MARGIN_MS)
            .fold(now, i64::max)
    }

    /// Which window holds a post back longest now, if any.
    pub fn holding(&self, posts: &[i64], now: i64) -> Option<&'static str> {
        let mut held: Option<(&'static str, i64)> = None;
        for w in &self.0 {
            if Self::count(posts, w, now) >= w.limit {
                let until = posts[posts.len() - w.limit] + w.ms + MARGIN_MS;
                if held.is_none_or(|(_, u)| until > u) {
                    held = Some((w.name, until));
                }
            }
        }
        held.map(|(name, _)| name)
    }

    /// Adds a post at `at` and forgets posts no window counts any more.
    pub fn record(&self, posts: &mut Vec<i64>, at: i64) {
        // In order even when another instance's clock is a little behind.
        let i = posts.partition_point(|t| *t <= at);
        posts.insert(i, at);
        let longest = self.0.iter().map(|w| w.ms).max().unwrap_or(0) + MARGIN_MS;
        let newest = posts[posts.len() - 1];
        let keep_from = posts.partition_point(|t| *t <= newest - longest);
        let most = self.0.iter().map(|w| w.limit).max().unwrap_or(0);
        let over = posts.len().saturating_sub(most + 1);
        posts.drain(..keep_from.max(over));
    }

    /// How many of the windows posts arriving at `times_ms` (any order) exceeded, counted as
    /// Teams counts them (without the margin): for tests and benchmarks, by a receiver's clock.
    pub fn exceeded(&self, times_ms: &[f64]) -> usize {
        let mut times = times_ms.to_vec();
        times.sort_by(|a, b| a.total_cmp(b));
        self.0
            .iter()
            .filter(|w| {
                times.iter().enumerate().any(|(i, t)| {
                    times[i..]
                        .iter()
                        .take_while(|u| **u - *t < w.ms as f64)
                        .count()
                        > w.limit
                })
            })
            .count()
    }
}

/// The windows of a webhook of `kind`, with `daily_budget` posts a day for Workflows.
pub fn for_kind(kind: WebhookKind, daily_budget: usize) -> Windows {
    match kind {
        WebhookKind::Connector => Windows::connector(),
        WebhookKind::Workflows { .. } | WebhookKind::RetiredWorkflows => {
            Windows::workflows(daily_budget)
        }
        WebhookKind::Bot => Windows::bot_thread(),
    }
}

/// How many of `windows` posts arriving at `times_ms` exceeded (see [`Windows::exceeded`]).
pub fn exceeded(windows: &Windows, times_ms: &[f64]) -> usize {
    windows.exceeded(times_ms)
}

/// The window sets of one server, made once from its daily budget and asked per webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    connector: Windows,
    workflows: Windows,
    /// The app's bot, per thread (a bot connection's target is one channel).
    bot: Windows,
    /// A webhook whose kind is not stored (a row written by an older version): every window
    /// of both sets, so neither is exceeded whichever it is.
    unknown: Windows,
}

impl Limits {
    pub fn new(daily_budget: usize) -> Limits {
        let (connector, workflows) = (Windows::connector(), Windows::workflows(daily_budget));
        let unknown = Windows([connector.list(), workflows.list()].concat());
        Limits {
            connector,
            workflows,
            bot: Windows::bot_thread(),
            unknown,
        }
    }

    pub fn for_kind(&self, kind: WebhookKind) -> &Windows {
        match kind {
            WebhookKind::Connector => &self.connector,
            WebhookKind::Workflows { .. } | WebhookKind::RetiredWorkflows => &self.workflows,
            WebhookKind::Bot => &self.bot,
        }
    }

    /// The windows of a webhook whose kind is stored as `name` ([`WebhookKind::name`]).
    pub fn for_stored(&self, name: Option<&str>) -> &Windows {
        match name.and_then(WebhookKind::from_name) {
            Some(kind) => self.for_kind(kind),
            None => &self.unknown,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(DEFAULT_DAILY_BUDGET)
    }
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

    const WORKFLOWS: WebhookKind = WebhookKind::Workflows { signed: true };

    /// Posts as fast as `windows` allow, from `start`; returns every post time.
    fn fill(windows: &Windows, posts: &mut Vec<i64>, n: usize, start: i64) -> Vec<i64> {
        let mut t = start;
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            t = windows.next_allowed(posts, t);
            windows.record(posts, t);
            all.push(t);
        }
        all
    }

    /// Posts as fast as `windows` allow for two days, and checks every window of the set.
    fn a_day_of_posting_keeps(windows: &Windows) {
        let mut posts = Vec::new();
        let mut all = Vec::new();
        let mut t = 0;
        while t < 2 * DAY {
            t = windows.next_allowed(&posts, t);
            windows.record(&mut posts, t);
            all.push(t);
        }
        for w in windows.list() {
            for (i, start) in all.iter().enumerate() {
                let inside = all[i..].iter().take_while(|u| **u - start < w.ms).count();
                assert!(
                    inside <= w.limit,
                    "{inside} posts in {} from {start}",
                    w.name
                );
            }
        }
        let ms: Vec<f64> = all.iter().map(|t| *t as f64).collect();
        assert_eq!(windows.exceeded(&ms), 0);
        let most = windows.list().iter().map(|w| w.limit).max().unwrap();
        assert!(posts.len() <= most + 1, "only what a window counts is kept");
    }

    #[test]
    fn a_fifth_post_in_a_second_to_a_connector_waits_for_the_first_to_leave_the_window() {
        let c = Windows::connector();
        let mut posts = Vec::new();
        for i in 0..4 {
            assert_eq!(c.next_allowed(&posts, 1_000 + i), 1_000 + i);
            c.record(&mut posts, 1_000 + i);
        }
        assert_eq!(c.next_allowed(&posts, 1_010), 2_000 + MARGIN_MS);
        assert_eq!(c.holding(&posts, 1_010), Some("1s"));
        assert_eq!(c.next_allowed(&[], 1_010), 1_010, "webhooks are separate");
    }

    #[test]
    fn the_hourly_window_holds_the_hundred_and_first_post_to_a_connector() {
        let c = Windows::connector();
        let mut posts = Vec::new();
        let t = *fill(&c, &mut posts, 100, 0).last().unwrap();
        assert!(t < HOUR);
        assert_eq!(
            c.next_allowed(&posts, t + 1),
            HOUR + MARGIN_MS,
            "the first post leaves the hour window"
        );
        assert_eq!(c.holding(&posts, t + 1), Some("1h"));
    }

    #[test]
    fn seven_posts_go_in_a_second_to_workflows_and_the_eighth_waits_for_the_two_second_window() {
        let w = for_kind(WORKFLOWS, DEFAULT_DAILY_BUDGET);
        let mut posts = Vec::new();
        let all = fill(&w, &mut posts, 7, 0);
        assert!(all.iter().all(|t| *t == 0), "seven at once: {all:?}");
        // The 1 s window would let the 8th go at once after 1 s; within 2 s only 8 go.
        assert_eq!(w.next_allowed(&posts, 1_300), 1_300, "the 8th after 1 s");
        w.record(&mut posts, 1_300);
        assert_eq!(w.next_allowed(&posts, 1_400), 2_000 + MARGIN_MS);
        assert_eq!(w.holding(&posts, 1_400), Some("2s"));
    }

    #[test]
    fn no_connector_window_is_ever_exceeded_by_a_day_of_posting() {
        a_day_of_posting_keeps(&Windows::connector());
    }

    #[test]
    fn no_workflows_window_is_ever_exceeded_by_a_day_of_posting() {
        a_day_of_posting_keeps(&for_kind(WORKFLOWS, DEFAULT_DAILY_BUDGET));
        a_day_of_posting_keeps(&for_kind(WebhookKind::RetiredWorkflows, 500));
        a_day_of_posting_keeps(&Limits::new(MAX_DAILY_BUDGET).unknown);
    }

    #[test]
    fn the_daily_budget_holds_the_post_after_it_for_a_day() {
        let w = for_kind(WORKFLOWS, 2_000);
        let mut posts = Vec::new();
        let all = fill(&w, &mut posts, 2_000, 0);
        let last = *all.last().unwrap();
        assert!(last < 2 * HOUR, "1,800 an hour, then the rest: {last}");
        assert_eq!(w.next_allowed(&posts, last + 1), DAY + MARGIN_MS);
        assert_eq!(w.holding(&posts, last + 1), Some("1d"));
        let first_next_day = fill(&w, &mut posts, 1, last + 1)[0];
        assert_eq!(first_next_day, DAY + MARGIN_MS);
    }

    #[test]
    fn a_burst_of_150_goes_out_in_seconds_to_workflows_and_in_hours_to_a_connector() {
        let end = |w: &Windows| *fill(w, &mut Vec::new(), 150, 0).last().unwrap();
        let workflows = end(&for_kind(WORKFLOWS, DEFAULT_DAILY_BUDGET));
        let connector = end(&Windows::connector());
        // 8 in 2 s and 60 in 30 s: the third 60 start after a minute, and go in 20 s.
        assert!(workflows > 60_000 && workflows < 90_000, "{workflows} ms");
        // 100 in an hour: the last 50 wait for the first to leave the hour.
        assert!(connector > HOUR, "{connector} ms");
    }

    #[test]
    fn each_kind_has_its_own_set_and_an_unknown_one_has_both() {
        let limits = Limits::new(3_000);
        assert_eq!(limits.for_stored(Some("connector")), &Windows::connector());
        assert_eq!(
            limits.for_stored(Some(WebhookKind::Workflows { signed: false }.name())),
            &Windows::workflows(3_000)
        );
        assert_eq!(
            limits.for_stored(Some("workflows-retired")),
            &Windows::workflows(3_000)
        );
        let unknown = limits.for_stored(None);
        assert_eq!(unknown.list().len(), 10);
        assert_eq!(limits.for_stored(Some("other")), unknown);
        let mut posts = Vec::new();
        fill(unknown, &mut posts, 4, 0);
        assert!(
            unknown.next_allowed(&posts, 10) > 1_000,
            "the connector's 4/s"
        );
        for w in unknown.list() {
            assert!(NAMES.contains(&w.name), "{} is a metrics label", w.name);
        }
    }

    #[test]
    fn a_post_from_a_clock_behind_is_kept_in_order() {
        let w = Windows::connector();
        let mut posts = vec![100, 300];
        w.record(&mut posts, 200);
        assert_eq!(posts, vec![100, 200, 300]);
    }

    #[test]
    fn a_fifth_card_within_a_second_is_one_exceeded_connector_window() {
        let c = Windows::connector();
        assert_eq!(exceeded(&c, &[0.0, 100.0, 200.0, 300.0, 1_000.0]), 0);
        assert_eq!(exceeded(&c, &[0.0, 100.0, 200.0, 300.0, 999.0]), 1);
        assert_eq!(
            exceeded(&c, &[999.0, 0.0, 300.0, 200.0, 100.0]),
            1,
            "any order"
        );
        let seven: Vec<f64> = (0..7).map(f64::from).collect();
        assert_eq!(exceeded(&Windows::workflows(10), &seven), 0);
    }

    #[test]
    fn post_times_survive_their_text_form() {
        let posts = vec![1, 22, 333];
        assert_eq!(decode(&encode(&posts)), posts);
        assert!(decode("").is_empty());
    }
}
