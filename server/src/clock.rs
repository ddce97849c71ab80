//! The clocks (milliseconds for the outbox, seconds for tokens) and times as the API, the
//! stored events and the command line write them: RFC 3339 in UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339.
pub fn now_rfc3339() -> String {
    format(OffsetDateTime::now_utc())
}

/// Milliseconds since the Unix epoch as RFC 3339 (the number itself if out of range).
pub fn rfc3339_from_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(format)
        .unwrap_or_else(|_| ms.to_string())
}

/// An RFC 3339 time given on the command line, as milliseconds since the Unix epoch.
pub fn ms_from_rfc3339(text: &str) -> anyhow::Result<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| anyhow::anyhow!("time '{text}' is not RFC 3339 like 2025-03-01T00:00:00Z"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn format(t: OffsetDateTime) -> String {
    // Formatting a UTC time as RFC 3339 fails only for years outside 0..=9999.
    t.format(&Rfc3339).unwrap_or_default()
}

/// Milliseconds since the Unix epoch (the outbox's times: due, leases, rate windows).
pub fn now_ms() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Seconds since the Unix epoch (the `exp` of tokens and proofs).
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_written_in_utc() {
        assert_eq!(rfc3339_from_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_ms(1_740_787_200_500), "2025-03-01T00:00:00.5Z");
        assert!(now_rfc3339().ends_with('Z'));
        assert_eq!(
            ms_from_rfc3339("2025-03-01T00:00:00.5Z").unwrap(),
            1_740_787_200_500
        );
        assert!(ms_from_rfc3339("yesterday")
            .unwrap_err()
            .to_string()
            .contains("'yesterday'"));
    }
}
