//! A load generator: workers sending `GET /load/<worker>/<n>` one after another (each worker on
//! its own kept-alive connection, or on a fresh connection per request) until stopped, and
//! recording the outcome of every request. Bounded: each worker stops by itself after
//! [`MAX_REQUESTS`] requests or [`MAX_RUN`].

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use super::http::Client;

/// The most requests one worker sends.
pub const MAX_REQUESTS: usize = 50_000;
/// The longest one worker runs.
pub const MAX_RUN: Duration = Duration::from_secs(40);

/// One worker of a load.
#[derive(Clone, Debug)]
pub struct Worker {
    pub name: String,
    /// Where requests go (a sidecar's outbound listener).
    pub addr: SocketAddr,
    /// The `Host` of every request: the target service.
    pub host: String,
    pub keep_alive: bool,
    /// Waits this long after each request (zero: back to back).
    pub pause: Duration,
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Outcome>>>,
}

/// What became of one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub worker: String,
    pub path: String,
    pub started: Instant,
    pub ended: Instant,
    /// The status, or why there was none.
    pub result: Result<u16, String>,
}

/// Every outcome of a load, by worker then in order.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Worker {
    /// A worker sending to `host` through `addr`, back to back.
    pub fn new(name: &str, addr: SocketAddr, host: &str, keep_alive: bool) -> Self {
        Self {
            name: name.to_owned(),
            addr,
            host: host.to_owned(),
            keep_alive,
            pause: Duration::ZERO,
        }
    }

    /// The same, pausing `pause` after each request.
    pub fn paced(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }
}

impl Load {
    /// Starts every worker.
    pub fn start(workers: Vec<Worker>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let tasks = workers
            .into_iter()
            .map(|worker| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(run(worker, stop, ok, failed))
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    /// Requests answered `200` so far.
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Requests that failed (no answer, or not `200`) so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Waits until `n` more requests than now have succeeded; panics after `limit`.
    pub async fn wait_ok(&self, n: usize, limit: Duration, what: &str) {
        let target = self.ok() + n;
        let deadline = Instant::now() + limit;
        while self.ok() < target {
            assert!(
                Instant::now() < deadline,
                "{what}: {n} more successful requests within {limit:?} (ok {}, failed {})",
                self.ok(),
                self.failed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Keeps the load running for at least `at_least` and until `n` more requests than now
    /// have succeeded; panics when that takes longer than `limit`.
    pub async fn hold(&self, at_least: Duration, n: usize, limit: Duration, what: &str) {
        let until = Instant::now() + at_least;
        self.wait_ok(n, limit, what).await;
        tokio::time::sleep_until(until).await;
    }

    /// Stops every worker after its request in flight and gathers the outcomes.
    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let mut outcomes = Vec::new();
        for task in self.tasks {
            outcomes.extend(task.await.unwrap());
        }
        Report { outcomes }
    }
}

async fn run(
    worker: Worker,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let mut client = Client::new(worker.addr, worker.keep_alive);
    let deadline = Instant::now() + MAX_RUN;
    let mut outcomes = Vec::new();
    for n in 0..MAX_REQUESTS {
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            break;
        }
        let path = format!("/load/{}/{n}", worker.name);
        let started = Instant::now();
        let result = client
            .get(&worker.host, &path)
            .await
            .map(|response| response.status);
        let counter = if result == Ok(200) { &ok } else { &failed };
        counter.fetch_add(1, Ordering::SeqCst);
        outcomes.push(Outcome {
            worker: worker.name.clone(),
            path,
            started,
            ended: Instant::now(),
            result,
        });
        if !worker.pause.is_zero() {
            tokio::time::sleep(worker.pause).await;
        }
    }
    outcomes
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.result == Ok(200)
    }
}

impl Report {
    /// The requests that did not get a `200`.
    pub fn failures(&self) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| !o.ok()).collect()
    }

    /// The requests that got a `200`.
    pub fn successes(&self) -> usize {
        self.outcomes.iter().filter(|o| o.ok()).count()
    }

    /// Successful requests of `worker` started at or after `t`.
    pub fn ok_started_after(&self, worker: &str, t: Instant) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.worker == worker && o.started >= t && o.ok())
            .count()
    }

    /// When the last successful request ended.
    pub fn last_success(&self) -> Option<Instant> {
        self.outcomes
            .iter()
            .filter(|o| o.ok())
            .map(|o| o.ended)
            .max()
    }

    /// A short account of at most 10 failures, for assertion messages.
    pub fn describe_failures(&self, since: Instant) -> String {
        let failures = self.failures();
        let mut text = format!(
            "{} of {} requests failed",
            failures.len(),
            self.outcomes.len()
        );
        for o in failures.iter().take(10) {
            text.push_str(&format!(
                "\n  {} at +{:?}: {:?}",
                o.path,
                o.started.saturating_duration_since(since),
                o.result
            ));
        }
        text
    }
}
