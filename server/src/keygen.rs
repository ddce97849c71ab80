//! `connector-server keys generate`: a new installation's keys and events secret, in the
//! forms the server reads, as an env file (or JSON).

use serde_json::{Map, Value};

/// The hash key's variable (the keyed hash of webhook URLs and edit keys).
pub const HASH_KEY_VAR: &str = "CONNECTOR_HASH_KEY";
/// The encryption keys' variable (`id:hex`, the first sealing).
pub const ENCRYPTION_KEYS_VAR: &str = "CONNECTOR_ENCRYPTION_KEYS";
/// The events secret's variable.
pub const EVENTS_SECRET_VAR: &str = "CONNECTOR_EVENTS_SECRET";

/// Fresh values, as (variable, value), made at `now`: the encryption key's id names the
/// second it was made (`k20250301-093000`), so a later rotation's key gets another id.
pub fn generate(now: time::OffsetDateTime) -> Vec<(&'static str, String)> {
    let hex32 = || hex::encode(rand::random::<[u8; 32]>());
    let id = format!(
        "k{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    vec![
        (HASH_KEY_VAR, hex32()),
        (ENCRYPTION_KEYS_VAR, format!("{id}:{}", hex32())),
        // 32 random bytes as hex: 64 characters, over the 32 bytes the server asks for.
        (EVENTS_SECRET_VAR, hex32()),
    ]
}

/// The values as an env file (Docker's `--env-file`, systemd's `EnvironmentFile=`).
pub fn env_file(values: &[(&str, String)]) -> String {
    let mut out = String::from(
        "# connector-server keys: keep them secret, give every instance the same ones, and keep\n\
         # them as long as the database (without the two keys its connections cannot be read).\n",
    );
    for (name, value) in values {
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

/// The values as one JSON object.
pub fn json(values: &[(&str, String)]) -> String {
    let map: Map<String, Value> = values
        .iter()
        .map(|(name, value)| (name.to_string(), Value::String(value.clone())))
        .collect();
    serde_json::to_string_pretty(&Value::Object(map)).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HashKey, Keyring};

    #[test]
    fn generated_values_are_taken_by_the_servers_own_parsers_and_differ_each_time() {
        // 2026-03-01 09:30:05 UTC.
        let now = time::OffsetDateTime::from_unix_timestamp(1_772_357_405).unwrap();
        let one = generate(now);
        let get = |values: &[(&str, String)], name: &str| {
            values.iter().find(|(n, _)| *n == name).unwrap().1.clone()
        };
        HashKey::from_hex(&get(&one, HASH_KEY_VAR)).unwrap();
        let ring = Keyring::parse(&get(&one, ENCRYPTION_KEYS_VAR)).unwrap();
        assert_eq!(ring.current_id(), "k20260301-093005");
        let sealed = ring.seal("https://example.com/hook", "c1");
        assert_eq!(
            ring.open(&sealed.0, &sealed.1, "c1").unwrap(),
            "https://example.com/hook"
        );
        let secret = get(&one, EVENTS_SECRET_VAR);
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: crate::config::Config,
        }
        let config = <Cli as clap::Parser>::try_parse_from(["s", "--events-secret", &secret])
            .unwrap()
            .config;
        assert!(
            config.checked_events_secrets().unwrap().is_some(),
            "the events secret is taken"
        );

        let two = generate(now);
        for (name, value) in &one {
            assert_ne!(&get(&two, name), value, "{name} is made afresh");
        }
        let file = env_file(&one);
        let lines: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 3, "{file}");
        for (name, value) in &one {
            assert!(
                lines.contains(&format!("{name}={value}").as_str()),
                "{file}"
            );
        }
        let parsed: Value = serde_json::from_str(&json(&one)).unwrap();
        assert_eq!(parsed[HASH_KEY_VAR], get(&one, HASH_KEY_VAR));
    }
}
