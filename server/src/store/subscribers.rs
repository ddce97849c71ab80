//! Each instance's copy of what the enabled connections subscribe to, so that an event is
//! matched in memory instead of reading and parsing every connection's settings per event.
//!
//! A copy is good for one value of the database's `connections_version`, which triggers in
//! the database raise on every insert, delete and change of a connection's id, settings or
//! disabled reason, whoever writes it (any instance, any code path). An event's transaction
//! reads the version first and the rows only when its copy is older, so a copy may hold
//! newer rows than its version says (it is then read again at the next event), never older.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connector_settings::{Subscription, Topic, Values};

/// The enabled connections' subscriptions as of one version: by event type, then by the
/// account they are linked to (none without `[account]`), the connections taking it grouped
/// by their project filter, so an addressed event looks only at its account's filters, and
/// at each once.
pub(crate) struct Snapshot {
    version: i64,
    by_kind: HashMap<&'static str, HashMap<Option<Arc<str>>, Vec<Group>>>,
}

/// A row read for a snapshot: (entity id, settings JSON, account).
pub(crate) type Row = (String, String, Option<String>);

/// The connections that take one event type with the same project filter.
struct Group {
    filter: Option<String>,
    ids: Vec<Arc<str>>,
}

impl Snapshot {
    /// Rows read from the database; settings that do not parse match nothing, as before.
    pub(crate) fn read(version: i64, rows: impl IntoIterator<Item = Row>) -> Self {
        type Key = (&'static str, Option<Arc<str>>, Option<String>);
        let mut groups: HashMap<Key, Vec<Arc<str>>> = HashMap::new();
        // One allocation per account, shared by its rows' keys.
        let mut accounts: HashMap<String, Arc<str>> = HashMap::new();
        for (id, settings, account) in rows {
            let Ok(values) = serde_json::from_str::<Values>(&settings) else {
                continue;
            };
            let subscription = Subscription::of(&values);
            let id: Arc<str> = id.into();
            let account = account.map(|a| {
                accounts
                    .entry(a)
                    .or_insert_with_key(|a| Arc::from(a.as_str()))
                    .clone()
            });
            for kind in subscription.events {
                groups
                    .entry((kind, account.clone(), subscription.filter.clone()))
                    .or_default()
                    .push(id.clone());
            }
        }
        let mut by_kind: HashMap<_, HashMap<_, Vec<_>>> = HashMap::new();
        for ((kind, account, filter), ids) in groups {
            by_kind
                .entry(kind)
                .or_default()
                .entry(account)
                .or_default()
                .push(Group { filter, ids });
        }
        Snapshot { version, by_kind }
    }

    /// The connections that receive `topic`: with `account`, only that account's; without
    /// (a build without `[account]`), every connection of the event's type.
    pub(crate) fn matching(&self, topic: &Topic, account: Option<&str>) -> Vec<String> {
        let Some(by_account) = self.by_kind.get(topic.kind()) else {
            return Vec::new();
        };
        let groups: Vec<&Group> = match account {
            Some(account) => by_account
                .get(&Some(Arc::from(account)))
                .into_iter()
                .flatten()
                .collect(),
            None => by_account.values().flatten().collect(),
        };
        groups
            .into_iter()
            .filter(|group| topic.passes(group.filter.as_deref()))
            .flat_map(|group| group.ids.iter().map(|id| id.to_string()))
            .collect()
    }
}

/// The instance's newest snapshot.
#[derive(Clone, Default)]
pub(crate) struct Subscribers {
    kept: Arc<Mutex<Option<Arc<Snapshot>>>>,
    /// Held while a snapshot is read, so events arriving together read it once.
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl Subscribers {
    /// The kept snapshot when it is as new as `version`.
    pub(crate) fn at(&self, version: i64) -> Option<Arc<Snapshot>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref().filter(|s| s.version >= version).cloned()
    }

    /// The right to read a new snapshot, one reader at a time; a waiter asks [`Self::at`]
    /// again once it has it, since the reader before it may have kept what it needs.
    pub(crate) async fn reading(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reading.lock().await
    }

    /// Keeps `snapshot` unless a newer one is kept already.
    pub(crate) fn keep(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_none_or(|k| k.version <= snapshot.version) {
            *kept = Some(snapshot.clone());
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(subscriptions: &[(&str, &str, &str)]) -> Vec<Row> {
        subscriptions
            .iter()
            .map(|(id, events, filter)| {
                let settings = format!(r#"{{"events": [{events}], "filter": "{filter}"}}"#);
                (id.to_string(), settings, None)
            })
            .collect()
    }

    fn sorted(mut ids: Vec<String>) -> Vec<String> {
        ids.sort();
        ids
    }

    #[test]
    fn a_snapshot_serves_its_version_and_older_ones_only() {
        let subs = Subscribers::default();
        assert!(subs.at(0).is_none());
        subs.keep(Snapshot::read(3, rows(&[("a", r#""build_failed""#, "")])));
        assert!(subs.at(3).is_some());
        assert!(subs.at(2).is_some());
        assert!(subs.at(4).is_none(), "a newer version needs a new read");
        // An older read finishing late does not replace a newer one.
        subs.keep(Snapshot::read(2, rows(&[("old", r#""build_failed""#, "")])));
        let any = Topic::new("build_failed", "");
        assert_eq!(subs.at(3).unwrap().matching(&any, None), ["a"]);
    }

    /// (id, event types, project filter).
    const CONNECTIONS: &[(&str, &str, &str)] = &[
        ("all", r#""build_failed", "incident_opened""#, ""),
        ("api", r#""build_failed""#, "api"),
        ("api-too", r#""build_failed""#, "API "),
        ("web", r#""build_failed""#, "web"),
        ("incidents", r#""incident_opened""#, "api"),
    ];

    #[test]
    fn an_event_goes_to_the_connections_of_its_type_whose_filter_its_project_contains() {
        let snap = Snapshot::read(1, rows(CONNECTIONS));
        let matching = |kind, project| sorted(snap.matching(&Topic::new(kind, project), None));
        assert_eq!(
            matching("build_failed", "Billing-API-v2"),
            ["all", "api", "api-too"]
        );
        assert_eq!(matching("incident_opened", "api"), ["all", "incidents"]);
        assert_eq!(matching("incident_opened", "web"), ["all"]);
        assert!(matching("deployment_finished", "api").is_empty());
        // The same answers as each connection's own subscription gives.
        for (kind, project) in [
            ("build_failed", "web"),
            ("incident_opened", "x-api"),
            ("build_failed", ""),
        ] {
            let topic = Topic::new(kind, project);
            let one_by_one: Vec<String> = rows(CONNECTIONS)
                .into_iter()
                .filter(|(_, s, _)| {
                    Subscription::of(&serde_json::from_str(s).unwrap()).receives(&topic)
                })
                .map(|(id, _, _)| id)
                .collect();
            assert_eq!(matching(kind, project), sorted(one_by_one));
        }
    }

    #[test]
    fn settings_that_do_not_parse_match_nothing() {
        let snap = Snapshot::read(
            1,
            [
                ("a".into(), "{".into(), None),
                ("b".into(), r#"{"events": ["build_failed"]}"#.into(), None),
            ],
        );
        assert_eq!(snap.matching(&Topic::new("build_failed", ""), None), ["b"]);
    }

    #[test]
    fn an_addressed_event_goes_only_to_its_accounts_connections_then_the_filter_narrows() {
        let mut all = rows(CONNECTIONS);
        for (i, row) in all.iter_mut().enumerate() {
            row.2 = Some(if i % 2 == 0 { "acme" } else { "globex" }.into());
        }
        all.push((
            "unlinked".into(),
            r#"{"events": ["build_failed"]}"#.into(),
            None,
        ));
        let snap = Snapshot::read(1, all);
        let matching = |kind, project, account| {
            sorted(snap.matching(&Topic::new(kind, project), Some(account)))
        };
        // all, api, api-too, web, incidents: acme has all, api-too, incidents.
        assert_eq!(matching("build_failed", "api", "acme"), ["all", "api-too"]);
        assert_eq!(matching("build_failed", "api", "globex"), ["api"]);
        assert_eq!(matching("build_failed", "web", "globex"), ["web"]);
        assert_eq!(
            matching("incident_opened", "api", "acme"),
            ["all", "incidents"]
        );
        assert!(matching("build_failed", "api", "initech").is_empty());
        assert!(
            matching("build_failed", "api", "ACME").is_empty(),
            "account ids are exact"
        );
        // Unaddressed (a build without [account]): every connection of the type.
        let every = sorted(snap.matching(&Topic::new("build_failed", "api-web"), None));
        assert_eq!(every, ["all", "api", "api-too", "unlinked", "web"]);
    }
}
