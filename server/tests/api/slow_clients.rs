//! Slow clients: headers or bodies trickled byte by byte, idle keep-alive connections, and
//! more of them than the connection cap, while ordinary requests keep being answered.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// A server with short time limits and a small cap.
async fn server(cap: u64) -> TestApp {
    TestApp::spawn_in(tempfile::tempdir().unwrap(), false, |c| {
        c.header_timeout = 2;
        c.body_timeout = 2;
        c.idle_timeout = 2;
        c.max_connections = cap;
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_string()
}

/// What a slow client saw: how long until the server closed, and what it answered.
struct Closed {
    after: Duration,
    answer: String,
}

/// Sends `head`, then one more byte every 250 ms until the server closes the connection
/// (or 20 s pass, which fails the test).
async fn trickle(addr: String, head: &'static str) -> Closed {
    let start = Instant::now();
    let mut answer = Vec::new();
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return Closed {
            after: start.elapsed(),
            answer: String::new(),
        };
    };
    let mut buf = [0u8; 4096];
    let mut wrote = stream.write_all(head.as_bytes()).await.is_ok();
    while start.elapsed() < Duration::from_secs(20) {
        if wrote {
            wrote = stream.write_all(b"a").await.is_ok();
        }
        match tokio::time::timeout(Duration::from_millis(250), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Closed {
                    after: start.elapsed(),
                    answer: String::from_utf8_lossy(&answer).into_owned(),
                }
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    panic!("a slow client was still connected after 20 s");
}

const HEADERS: &str = "GET /api/health HTTP/1.1\r\nhost: x\r\nx-slow: ";
const BODY: &str = "PUT /api/connections/slow HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n\r\n{\"settings\":\"";

#[tokio::test]
async fn a_client_trickling_headers_is_closed_after_the_header_timeout() {
    let app = server(64).await;
    let closed = trickle(addr(&app), HEADERS).await;
    assert!(
        closed.after >= Duration::from_millis(1900) && closed.after < Duration::from_secs(8),
        "closed after {:?}",
        closed.after
    );
    assert_eq!(closed.answer, "", "nothing is answered to half a request");
}

#[tokio::test]
async fn a_client_trickling_a_body_is_answered_408_in_json_and_closed() {
    let app = server(64).await;
    let closed = trickle(addr(&app), BODY).await;
    assert!(
        closed.after >= Duration::from_millis(1900) && closed.after < Duration::from_secs(8),
        "closed after {:?}",
        closed.after
    );
    assert!(
        closed.answer.starts_with("HTTP/1.1 408"),
        "{}",
        closed.answer
    );
    let body = closed.answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let error: Value = serde_json::from_str(body).expect(body);
    assert_eq!(error["error"], "request_timeout");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did not arrive within"),
        "{error}"
    );
    assert_eq!(
        app.get("slow", Some("https://x.webhook.office.com/"))
            .await
            .status(),
        404,
        "nothing of the slow request was stored"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_a_busy_one_is_not() {
    let app = server(64).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let mut buf = [0u8; 4096];
    // Four requests 1 s apart on one connection: never idle for the 2 s allowed.
    for _ in 0..4 {
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let idle = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the idle connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        idle.elapsed() >= Duration::from_millis(900) && idle.elapsed() < Duration::from_secs(8),
        "closed after {:?} idle",
        idle.elapsed()
    );
}

#[tokio::test]
async fn a_slowloris_beyond_the_cap_is_closed_while_ordinary_requests_are_answered() {
    const CAP: u64 = 16;
    let app = server(CAP).await;
    let slow: Vec<_> = (0..3 * CAP)
        .map(|i| tokio::spawn(trickle(addr(&app), if i % 2 == 0 { HEADERS } else { BODY })))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Ordinary visitors, each on a new connection, for as long as the slow ones hold on.
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let sent = Instant::now();
        let res = client
            .get(format!("{}/api/health", app.url))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("an ordinary request is answered");
        assert_eq!(res.status(), 200);
        slowest = slowest.max(sent.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Milliseconds when idle; a second allows for a loaded machine, far below the time-outs
    // a blocked visitor would wait for.
    assert!(
        slowest < Duration::from_secs(1),
        "the slowest of {answered} ordinary requests took {slowest:?}"
    );
    for s in slow {
        let closed = s.await.unwrap();
        assert!(
            closed.after < Duration::from_secs(10),
            "a slow client was closed only after {:?}",
            closed.after
        );
    }
}

/// Sends a PUT's headers and 12 bytes of its body, then nothing; returns what the server
/// answered before closing (or after 15 s, which fails the test).
async fn stall_body(addr: String) -> String {
    let mut stream = TcpStream::connect(&addr).await.expect("connects");
    stream
        .write_all(BODY.as_bytes())
        .await
        .expect("sends the start");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .expect("the server answers a stalled body");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_beyond_the_concurrency_limit_hold_no_api_slot_and_get_408() {
    const LIMIT: u32 = 8;
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |c| {
        c.body_timeout = 3;
        // Shorter than the body time-out: it must not start before the body is here.
        c.request_deadline = 1;
        c.max_concurrent_requests = LIMIT;
        c.max_connections = 256;
    })
    .await;
    let stalled: Vec<_> = (0..3 * LIMIT)
        .map(|_| tokio::spawn(stall_body(addr(&app))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile the API answers: a read, and a signed event.
    for _ in 0..5 {
        let read = app
            .get("nobody", Some("https://x.webhook.office.com/"))
            .await;
        assert_eq!(read.status(), 404, "an API request is worked on, not shed");
        let event = app
            .send(&crate::helpers::event(
                crate::helpers::event_types()[0],
                "api",
            ))
            .await;
        assert_eq!(event.status(), 202, "signed events keep being accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for s in stalled {
        let answer = s.await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a stalled body gets the documented 408, not the deadline's 503: {answer}"
        );
    }
}
