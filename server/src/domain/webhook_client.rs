//! The only HTTP client that may connect to a webhook URL. Its resolver refuses any name
//! that resolves to a non-public address at connect time (DNS rebinding: the name may have
//! resolved elsewhere when it was stored), and it never follows redirects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::webhook_url::is_public;

/// Resolves like the system does, then keeps only public addresses; none left is an error.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    format!("webhook host '{host}' resolves to no public address").into();
                return Err(e);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A client for posting to webhooks: public addresses only, no redirects, and `timeout` for
/// the whole exchange.
pub fn webhook_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicOnly))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .build()
        .expect("http client")
}

/// The dev-mode client for the emulator's own inbox on loopback; still no redirects.
pub fn dev_inbox_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .expect("http client")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot local server answering every request with `answer`.
    async fn local(answer: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
        let port = local("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1").await;
        let err = webhook_client(Duration::from_secs(30))
            .post(format!("http://localhost:{port}/hook"))
            .send()
            .await
            .unwrap_err();
        let chain = format!("{err:?}");
        assert!(chain.contains("resolves to no public address"), "{chain}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = local("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1").await;
        let answer: &'static str = Box::leak(
            format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/internal\r\ncontent-length: 0\r\n\r\n").into_boxed_str(),
        );
        let port = local(answer).await;
        let res = dev_inbox_client(Duration::from_secs(30))
            .post(format!("http://127.0.0.1:{port}/hook"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302, "the redirect is returned, not followed");
    }
}
