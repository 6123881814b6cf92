//! A webhook receiver on loopback for the tests: answers per a plan (fail, hang), then 200,
//! and records every POST with its headers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value as Json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How the receiver answers the next POST.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// 500.
    Fail,
    /// No answer for longer than the server waits.
    Hang,
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub event: Json,
    pub signature: Option<String>,
    pub event_id_header: Option<String>,
    pub body: Vec<u8>,
    pub accepted: bool,
}

/// A webhook receiver on loopback that answers per a plan, then 200.
#[derive(Clone)]
pub struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    /// Starts one on a free port; answers `plan` first, then 200. Gives its URL.
    pub async fn start(plan: &[Answer]) -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, plan)
    }

    /// Starts one on `listener`.
    pub fn start_on(listener: tokio::net::TcpListener, plan: &[Answer]) -> (Self, String) {
        let receiver = Receiver {
            got: Arc::default(),
            plan: Arc::new(Mutex::new(plan.iter().copied().collect())),
        };
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// The POSTs it answered 200.
    pub fn accepted(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.accepted)
            .cloned()
            .collect()
    }

    /// Every POST.
    pub fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits up to 30 s until `n` POSTs were accepted.
    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} events arrived: {:?}",
                got.len(),
                self.all()
                    .iter()
                    .map(|g| &g.event["topic"])
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let answer = r.plan.lock().unwrap().pop_front();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut got = Got {
        event: serde_json::from_slice(&body).unwrap_or(Json::Null),
        signature: header("x-hmac-signature"),
        event_id_header: header("x-event-id"),
        body: body.to_vec(),
        accepted: false,
    };
    match answer {
        Some(Answer::Fail) => {
            r.got.lock().unwrap().push(got);
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        }
        Some(Answer::Hang) => {
            r.got.lock().unwrap().push(got);
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            axum::http::StatusCode::OK
        }
        None => {
            got.accepted = true;
            r.got.lock().unwrap().push(got);
            axum::http::StatusCode::OK
        }
    }
}
