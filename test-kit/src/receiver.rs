//! Webhooks in the calling process: they outlive the servers that post to them, answer as
//! told, and keep every request with when it came.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

use connector_server::domain::rate_windows::{self, Windows};

/// A dev inbox URL at `origin` of the connector webhook shape (`…/webhookb2/<name>@…`).
pub fn inbox_hook(origin: &str, name: &str) -> String {
    format!("{origin}/emulator/webhook/webhookb2/{name}@tenant-1/IncomingWebhook/abc/user-1")
}

/// One request as a [`Receiver`] got it.
#[derive(Debug, Clone)]
pub struct Card {
    /// The webhook path after `/emulator/webhook/`.
    pub path: String,
    pub idempotency_key: String,
    /// When it arrived (recorded then, before the receiver's delay).
    pub at: Instant,
    /// What the receiver answered.
    pub status: u16,
}

/// How a receiver answers one webhook path.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Ok,
    Status(u16),
    /// This status with this body.
    Body(u16, &'static str),
}

#[derive(Default)]
struct ReceiverState {
    requests: Vec<Card>,
    answers: HashMap<String, Answer>,
}

/// A webhook receiver in the test process (it outlives the servers): answers `1` after
/// `delay`, or what [`Receiver::answer`] set for a path; keeps every request.
#[derive(Clone)]
pub struct Receiver {
    pub origin: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start(delay: Duration) -> Receiver {
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let app = Router::new()
            .route(
                "/emulator/webhook/{*path}",
                post(
                    move |State(state): State<Arc<Mutex<ReceiverState>>>,
                          UrlPath(path): UrlPath<String>,
                          headers: HeaderMap| async move {
                        let at = Instant::now();
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let answer = {
                            let mut s = state.lock().unwrap();
                            let answer = s.answers.get(&path).copied().unwrap_or(Answer::Ok);
                            let status = match answer {
                                Answer::Ok => 200,
                                Answer::Status(code) | Answer::Body(code, _) => code,
                            };
                            // Recorded on arrival, as Teams counts it.
                            s.requests.push(Card {
                                path,
                                idempotency_key: key,
                                at,
                                status,
                            });
                            answer
                        };
                        tokio::time::sleep(delay).await;
                        match answer {
                            Answer::Ok => "1".into_response(),
                            Answer::Status(code) => {
                                AxumStatus::from_u16(code).unwrap().into_response()
                            }
                            Answer::Body(code, body) => {
                                (AxumStatus::from_u16(code).unwrap(), body).into_response()
                            }
                        }
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on 127.0.0.1 for the receiver");
        let origin = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("the receiver's port").port()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { origin, state }
    }

    /// The webhook URL of inbox `name` on this receiver.
    pub fn hook(&self, name: &str) -> String {
        inbox_hook(&self.origin, name)
    }

    fn path(&self, name: &str) -> String {
        let hook = self.hook(name);
        hook.split("/emulator/webhook/").nth(1).unwrap().to_string()
    }

    /// Answers `answer` for inbox `name` from now on.
    pub fn answer(&self, name: &str, answer: Answer) {
        let path = self.path(name);
        self.state.lock().unwrap().answers.insert(path, answer);
    }

    /// The cards accepted (answered 200), of every inbox.
    pub fn cards(&self) -> Vec<Card> {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|c| c.status == 200)
            .cloned()
            .collect()
    }

    /// Every request inbox `name` got, whatever it answered.
    pub fn requests(&self, name: &str) -> Vec<Card> {
        let path = self.path(name);
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// How many requests came, of every inbox, whatever they were answered.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// How many different webhooks accepted at least one card.
    pub fn distinct(&self) -> usize {
        let mut paths: Vec<String> = self.cards().into_iter().map(|c| c.path).collect();
        paths.sort();
        paths.dedup();
        paths.len()
    }
}

/// How many of a connector webhook's rate windows cards arriving at `times` exceeded (0:
/// every window kept).
pub fn violations(times: &[Instant]) -> usize {
    violations_of(&Windows::connector(), times)
}

/// The same for `windows`.
pub fn violations_of(windows: &Windows, times: &[Instant]) -> usize {
    let Some(first) = times.iter().min() else {
        return 0;
    };
    let ms: Vec<f64> = times
        .iter()
        .map(|t| t.duration_since(*first).as_secs_f64() * 1000.0)
        .collect();
    rate_windows::exceeded(windows, &ms)
}
