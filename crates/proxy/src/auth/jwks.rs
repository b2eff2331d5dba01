//! One issuer's verifying keys: discovery (unless `jwks_uri` is configured), the JWKS fetch,
//! a background refresh, and a rate-limited refetch when a token names an unknown `kid`.
//!
//! One `IssuerKeys` serves every route of a gateway that accepts the issuer (see `registry`);
//! each route subscribes with its own verified-token cache, emptied when the key set changes.
//!
//! Failure is closed: when a fetch fails the keys from the last good fetch keep working, and
//! before the first good fetch there are no keys, so every token is refused.

use super::fetch::{FetchError, Fetcher};
use super::introspect::{IntrospectError, Introspector, SecretFileError};
use crate::metrics::Metrics;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use metrics::Counter;
use rampart_config::JwtIssuer;
use rampart_token::{Jwks, VerifiedCache, VerifyingKeys};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// How often the key set is fetched while all is well.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// The first retry after a failed fetch; doubled up to [`REFRESH_INTERVAL`].
const RETRY_MIN: Duration = Duration::from_secs(2);
/// At most one refetch for an unknown `kid` per issuer this often.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// A whole fetch (discovery and key set).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The keys of one accepted issuer, kept fresh in the background.
#[derive(Debug)]
pub struct IssuerKeys {
    pub issuer: String,
    jwks_uri: Option<String>,
    fetcher: Fetcher,
    keys: ArcSwapOption<VerifyingKeys>,
    /// The last key set fetched, to notice rotations.
    last: Mutex<Option<Bytes>>,
    /// The routes using these keys.
    subscribers: Mutex<Vec<Weak<Subscription>>>,
    /// Told the number of finished fetch attempts.
    done: watch::Sender<u64>,
    in_flight: AtomicUsize,
    last_refetch: Mutex<Option<Instant>>,
    /// Asks the issuer whether tokens are still active, when configured.
    introspection: Option<Introspector>,
}

/// A route's interest in an issuer's key set: what to invalidate when it changes and where to
/// count fetches. Held by the route; the issuer keeps a weak reference.
#[derive(Debug)]
pub struct Subscription {
    /// Bumped whenever the key set changes; shared by the issuers of one route.
    epoch: Arc<AtomicU64>,
    /// The route's verified tokens, emptied when the key set changes.
    cache: Arc<VerifiedCache>,
    /// `rampart_jwks_fetches_total{route, issuer, result}`: ok, then error.
    fetches: [Counter; 2],
}

/// Why an issuer cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(transparent)]
    Tls(#[from] rampart_identity::IdentityError),
    #[error("introspection: {0}")]
    Secret(#[from] SecretFileError),
}

/// The part of the OpenID provider metadata Rampart reads.
#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    introspection_endpoint: Option<String>,
}

// === impl IssuerKeys ===

impl IssuerKeys {
    /// Builds the issuer's client and starts its background refresh on `runtime`.
    /// The refresh stops when the returned value is dropped.
    pub fn start(
        config: &JwtIssuer,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<Self>, IssuerError> {
        let fetcher = Fetcher::new(config.ca.as_deref())?;
        let introspection = config
            .introspection
            .as_ref()
            .map(Introspector::new)
            .transpose()?;
        let (done, _) = watch::channel(0);
        let me = Arc::new(Self {
            issuer: config.issuer.clone(),
            jwks_uri: config.jwks_uri.clone(),
            fetcher,
            keys: ArcSwapOption::empty(),
            last: Mutex::new(None),
            subscribers: Mutex::new(Vec::new()),
            done,
            in_flight: AtomicUsize::new(0),
            last_refetch: Mutex::new(None),
            introspection,
        });
        runtime.spawn(refresh_loop(Arc::downgrade(&me)));
        Ok(me)
    }

    /// Subscribes route `route` (its key epoch and verified-token cache) to changes of this key
    /// set; the subscription lasts as long as the returned value.
    pub fn subscribe(
        &self,
        route: &str,
        epoch: Arc<AtomicU64>,
        cache: Arc<VerifiedCache>,
        metrics: &Metrics,
    ) -> Arc<Subscription> {
        let counter = |result| {
            metrics.counter(
                "rampart_jwks_fetches_total",
                &[
                    ("route", route),
                    ("issuer", &self.issuer),
                    ("result", result),
                ],
            )
        };
        let sub = Arc::new(Subscription {
            epoch,
            cache,
            fetches: [counter("ok"), counter("error")],
        });
        let mut subscribers = lock(&self.subscribers);
        subscribers.retain(|s| s.strong_count() > 0);
        subscribers.push(Arc::downgrade(&sub));
        sub
    }

    /// The live subscriptions.
    fn subscriptions(&self) -> Vec<Arc<Subscription>> {
        lock(&self.subscribers)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Whether the issuer still considers `token` (verified, expiring at `expires_at`) active;
    /// always `true` without introspection.
    pub async fn active(
        &self,
        token: &str,
        expires_at: SystemTime,
    ) -> Result<bool, IntrospectError> {
        match &self.introspection {
            Some(i) => i.active(&self.fetcher, token, expires_at).await,
            None => Ok(true),
        }
    }

    /// The keys of the last good fetch, if any.
    pub fn keys(&self) -> Option<Arc<VerifyingKeys>> {
        self.keys.load_full()
    }

    /// Whether the current key set has `kid`.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.load().as_ref().is_some_and(|k| k.contains(kid))
    }

    /// Starts a fetch of the key set unless one was started less than [`REFETCH_INTERVAL`]
    /// ago. Returns what to wait on when a fetch is under way, `None` when there is none.
    pub fn refetch(self: &Arc<Self>) -> Option<watch::Receiver<u64>> {
        let done = self.done.subscribe();
        let allowed = match self.last_refetch.lock() {
            Ok(mut last) => {
                let ok = last.is_none_or(|t| t.elapsed() >= REFETCH_INTERVAL);
                if ok {
                    *last = Some(Instant::now());
                }
                ok
            }
            Err(_) => false,
        };
        if allowed {
            // A task of its own: a request that stops waiting does not cancel the fetch.
            let me = self.clone();
            tokio::spawn(async move { me.fetch().await });
        } else if self.in_flight.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(done)
    }

    /// One fetch attempt; on success the keys are replaced when they changed.
    pub async fn fetch(&self) -> Result<(), FetchError> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let result = match tokio::time::timeout(FETCH_TIMEOUT, self.fetch_keys()).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(FETCH_TIMEOUT)),
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        for sub in self.subscriptions() {
            sub.fetches[usize::from(result.is_err())].increment(1);
        }
        if let Err(e) = &result {
            tracing::warn!(issuer = %self.issuer, error = %e,
                "cannot fetch the issuer's keys; the cached ones stay in use");
        }
        self.done.send_modify(|n| *n += 1);
        result
    }

    async fn fetch_keys(&self) -> Result<(), FetchError> {
        let wants_metadata = self
            .introspection
            .as_ref()
            .is_some_and(Introspector::needs_discovery);
        let jwks_uri = match &self.jwks_uri {
            Some(u) if !wants_metadata => u.clone(),
            Some(u) => {
                self.discover().await?;
                u.clone()
            }
            None => self.discover().await?,
        };
        let (jwks, body): (Jwks, Bytes) = self.fetcher.json(&jwks_uri).await?;
        let changed = match self.last.lock() {
            Ok(mut last) => {
                let changed = last.as_ref() != Some(&body);
                *last = Some(body);
                changed
            }
            Err(_) => true,
        };
        if changed || self.keys.load().is_none() {
            self.keys
                .store(Some(Arc::new(VerifyingKeys::from_jwks(&jwks))));
            // Epoch first: a verification that read the old keys is not cached after this.
            for sub in self.subscriptions() {
                sub.epoch.fetch_add(1, Ordering::AcqRel);
                sub.cache.clear();
            }
            tracing::info!(issuer = %self.issuer, keys = jwks.keys.len(),
                "issuer key set loaded");
        }
        Ok(())
    }

    /// The `jwks_uri` of the provider metadata, whose `issuer` must be the configured one.
    async fn discover(&self) -> Result<String, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (meta, _): (Metadata, Bytes) = self.fetcher.json(&url).await?;
        if meta.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: meta.issuer,
            });
        }
        if !meta.jwks_uri.starts_with("https://") {
            return Err(FetchError::NotHttps(meta.jwks_uri));
        }
        if let Some(i) = &self.introspection {
            let endpoint = meta
                .introspection_endpoint
                .filter(|e| e.starts_with("https://"));
            i.discovered(endpoint);
        }
        Ok(meta.jwks_uri)
    }
}

/// Locks, recovering from poisoning (every critical section leaves the list consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Fetches now, then every [`REFRESH_INTERVAL`] (sooner, with backoff, after a failure),
/// until the issuer is dropped.
async fn refresh_loop(issuer: Weak<IssuerKeys>) {
    let mut retry = RETRY_MIN;
    loop {
        let Some(me) = issuer.upgrade() else {
            return;
        };
        let pause = match me.fetch().await {
            Ok(()) => {
                retry = RETRY_MIN;
                REFRESH_INTERVAL
            }
            Err(_) => {
                let pause = retry;
                retry = (retry * 2).min(REFRESH_INTERVAL);
                pause
            }
        };
        drop(me);
        tokio::time::sleep(pause).await;
    }
}
