//! The command line's admin API client: `dead`, `status` and `replay` with `--admin-url` ask
//! a running server's admin API (its internal listener) instead of opening the database, so
//! an operator needs no database keys. The token is the first entry of
//! `CONNECTOR_ADMIN_TOKEN` (or `--admin-token`, or the file `CONNECTOR_ADMIN_TOKEN_FILE`),
//! written as the server takes it: `id:secret`. Only the secret is sent.

use anyhow::{bail, Context, Result};
use connector_settings::admin::{
    ConnectionDetail, DeliveryDetail, DeliveryPage, DeliveryRow, ReplayAnswer, ReplayFilter,
};
use connector_settings::api::ErrorBody;
use serde::de::DeserializeOwned;

/// The most a page of the admin API holds.
const PAGE: usize = 200;

/// A client of one server's admin API.
pub struct AdminClient {
    base: String,
    secret: String,
    client: reqwest::Client,
}

/// The secret of the first `id:secret` entry of `tokens` (the value of
/// `CONNECTOR_ADMIN_TOKEN`); errors name the variable, never a secret.
pub fn client_secret(tokens: Option<&str>) -> Result<String> {
    let Some(tokens) = tokens else {
        bail!("--admin-url needs an admin token: set CONNECTOR_ADMIN_TOKEN (or CONNECTOR_ADMIN_TOKEN_FILE, or --admin-token) to id:secret, one of the server's");
    };
    let first = tokens.split(',').next().unwrap_or_default().trim();
    match first.split_once(':') {
        Some((id, secret)) if !id.trim().is_empty() && !secret.is_empty() => {
            Ok(secret.to_string())
        }
        _ => bail!(
            "the admin token (CONNECTOR_ADMIN_TOKEN) is not id:secret, as the server's --admin-token is written"
        ),
    }
}

impl AdminClient {
    /// A client of the admin API at `url` (the internal listener's origin, e.g.
    /// `http://127.0.0.1:9090`), with the token `tokens` names.
    pub fn new(url: &str, tokens: Option<&str>) -> Result<AdminClient> {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if parsed.is_none() {
            bail!("--admin-url '{url}' is not an http(s) origin like http://127.0.0.1:9090");
        }
        Ok(AdminClient {
            base: url.trim_end_matches('/').to_string(),
            secret: client_secret(tokens)?,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
        })
    }

    /// Sends `req` and reads its JSON answer; a refusal is an error with the server's words.
    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T> {
        let res = req
            .bearer_auth(&self.secret)
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = res.status();
        let text = res.text().await?;
        if !status.is_success() {
            let why = serde_json::from_str::<ErrorBody>(&text)
                .map(|e| format!("{} ({})", e.message, e.error))
                .unwrap_or(text);
            bail!("{what}: the admin API answered {status}: {why}");
        }
        serde_json::from_str(&text).with_context(|| {
            format!("{what}: the admin API's answer is not what this version reads")
        })
    }

    /// `GET {path}` of the admin API.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req, &format!("GET {path}")).await
    }

    /// `POST {path}` of the admin API with `body` as JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let mut req = self.client.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        self.send(req, &format!("POST {path}")).await
    }
}

/// `dead --admin-url`: the dead deliveries that died at or after `since` (unix ms), oldest
/// first, at most `limit`, as the direct form prints them.
pub async fn dead(client: &AdminClient, since: i64, limit: usize) -> Result<Vec<DeliveryRow>> {
    let mut dead = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut path = format!("/admin/deliveries?state=dead&limit={PAGE}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let page: DeliveryPage = client.get(&path).await?;
        dead.extend(
            page.deliveries
                .into_iter()
                .filter(|d| d.dead_at.unwrap_or(0) >= since),
        );
        match page.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    dead.sort_by_key(|d| (d.dead_at, d.delivery_id));
    dead.truncate(limit);
    Ok(dead)
}

/// `status --admin-url`: the connection's detail (no webhook URL, edit key or signature).
pub async fn status(client: &AdminClient, entity_id: &str) -> Result<ConnectionDetail> {
    let id = url::form_urlencoded::byte_serialize(entity_id.as_bytes()).collect::<String>();
    client.get(&format!("/admin/connections/{id}")).await
}

/// `replay --id --admin-url`: the dead delivery `id` due again (`POST
/// /admin/deliveries/{id}/replay`).
pub async fn replay_one(client: &AdminClient, id: i64) -> Result<DeliveryDetail> {
    client
        .post(&format!("/admin/deliveries/{id}/replay"), None)
        .await
}

/// `replay --since --admin-url [--dry-run]`: every dead delivery that died at or after
/// `since` (unix ms) due again, or only counted (`POST /admin/deliveries/replay`).
pub async fn replay_since(client: &AdminClient, since: i64, dry_run: bool) -> Result<ReplayAnswer> {
    let filter = ReplayFilter {
        since: Some(since),
        dry_run,
        ..ReplayFilter::default()
    };
    client
        .post(
            "/admin/deliveries/replay",
            Some(&serde_json::to_value(filter)?),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_sends_the_first_tokens_secret_and_never_shows_one() {
        assert_eq!(
            client_secret(Some("ops:0123456789abcdef,old:x")).unwrap(),
            "0123456789abcdef"
        );
        assert_eq!(
            client_secret(Some(" ops:with:colons ")).unwrap(),
            "with:colons"
        );
        let bare = client_secret(Some("justasecret0123456"))
            .unwrap_err()
            .to_string();
        assert!(
            bare.contains("id:secret") && !bare.contains("justasecret"),
            "{bare}"
        );
        let none = client_secret(None).unwrap_err().to_string();
        assert!(none.contains("CONNECTOR_ADMIN_TOKEN"), "{none}");
        assert!(AdminClient::new("127.0.0.1:9090", Some("a:b")).is_err());
        assert!(AdminClient::new("http://127.0.0.1:9090/", Some("a:b")).is_ok());
    }
}
