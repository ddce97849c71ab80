//! Each instance's copy of what the enabled connections subscribe to, so that an event is
//! matched in memory instead of reading and parsing every connection's settings per event.
//!
//! A copy is good for one value of the database's `connections_version`, which triggers in
//! the database raise on every insert, delete and change of a connection's id, settings or
//! disabled reason, whoever writes it (any instance, any code path). An event's transaction
//! reads the version first and the rows only when its copy is older, so a copy may hold
//! newer rows than its version says (it is then read again at the next event), never older.

use std::sync::{Arc, Mutex};

use connector_settings::{Subscription, Values};

use super::Matcher;

/// The enabled connections (id and subscription) as of one version.
pub(crate) struct Snapshot {
    version: i64,
    rows: Vec<(String, Subscription)>,
}

impl Snapshot {
    /// Rows read from the database as (entity id, settings JSON); settings that do not
    /// parse match nothing, as before.
    pub(crate) fn read(version: i64, rows: impl IntoIterator<Item = (String, String)>) -> Self {
        let rows = rows
            .into_iter()
            .filter_map(|(id, settings)| {
                let values: Values = serde_json::from_str(&settings).ok()?;
                Some((id, Subscription::of(&values)))
            })
            .collect();
        Snapshot { version, rows }
    }

    /// The connections `matches` wants.
    pub(crate) fn matching(&self, matches: &Matcher) -> Vec<String> {
        self.rows
            .iter()
            .filter(|(_, subscription)| matches(subscription))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// The instance's newest snapshot.
#[derive(Clone, Default)]
pub(crate) struct Subscribers(Arc<Mutex<Option<Arc<Snapshot>>>>);

impl Subscribers {
    /// The kept snapshot when it is as new as `version`.
    pub(crate) fn at(&self, version: i64) -> Option<Arc<Snapshot>> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref().filter(|s| s.version >= version).cloned()
    }

    /// Keeps `snapshot` unless a newer one is kept already.
    pub(crate) fn keep(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_none_or(|k| k.version <= snapshot.version) {
            *kept = Some(snapshot.clone());
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ids: &[&str]) -> Vec<(String, String)> {
        ids.iter()
            .map(|id| {
                (
                    id.to_string(),
                    r#"{"events": ["build_failed"]}"#.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_snapshot_serves_its_version_and_older_ones_only() {
        let subs = Subscribers::default();
        assert!(subs.at(0).is_none());
        subs.keep(Snapshot::read(3, rows(&["a"])));
        assert!(subs.at(3).is_some());
        assert!(subs.at(2).is_some());
        assert!(subs.at(4).is_none(), "a newer version needs a new read");
        // An older read finishing late does not replace a newer one.
        subs.keep(Snapshot::read(2, rows(&["old"])));
        let all: Matcher = Box::new(|_| true);
        assert_eq!(subs.at(3).unwrap().matching(&all), ["a"]);
    }

    #[test]
    fn settings_that_do_not_parse_match_nothing() {
        let snap = Snapshot::read(1, [("a".into(), "{".into()), ("b".into(), "{}".into())]);
        let all: Matcher = Box::new(|_| true);
        assert_eq!(snap.matching(&all), ["b"]);
    }
}
