//! NATS JetStream transport: connecting, and the `RAMPART_EVENTS` stream both ends share.
//!
//! Owns: the connection options (credentials, token, TLS), creating the stream when it is missing
//! (subjects `rampart.events.>`, file storage, JetStream's duplicate window keyed by
//! `Nats-Msg-Id` = event id), the proxy-side [`NatsSink`] and the collector-side
//! [`NatsCollector`]. Must not: store events (the collector hands them to an [`EventIngest`]).
//!
//! [`EventIngest`]: crate::EventIngest

mod collector;
mod sink;

pub use collector::{CollectorCounts, CollectorOptions, NatsCollector};
pub use sink::NatsSink;

use async_nats::jetstream::{self, stream};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default stream name.
pub const DEFAULT_STREAM: &str = "RAMPART_EVENTS";

/// Every record is published under this prefix, followed by its kind (`rampart.events.access`).
pub const SUBJECT_PREFIX: &str = "rampart.events";

/// Where the NATS server is and how to reach the stream.
#[derive(Clone)]
pub struct NatsOptions {
    /// `nats://host:port` (or `tls://…`); several servers separated by commas.
    pub url: String,
    /// The JetStream stream (default `RAMPART_EVENTS`).
    pub stream: String,
    /// A `.creds` file (JWT + NKey seed), for operator-mode servers.
    pub credentials_file: Option<PathBuf>,
    /// A plain token; never printed.
    pub token: Option<String>,
    pub tls: Option<NatsTls>,
    /// How long the stream keeps records (default 7 days) when this process creates it.
    pub max_age: Duration,
    /// JetStream's window for dropping a re-published `Nats-Msg-Id` (default 2 minutes).
    pub duplicate_window: Duration,
    /// Time allowed for a request or a publish acknowledgement (default 10 s).
    pub request_timeout: Duration,
}

/// TLS towards the NATS server (PEM files).
#[derive(Debug, Clone, Default)]
pub struct NatsTls {
    /// Roots to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Why the NATS transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot read NATS credentials file `{path}`: {source}")]
    Credentials {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at `{url}`: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot create or open JetStream stream `{stream}`: {reason}")]
    Stream { stream: String, reason: String },
    #[error("cannot create or open consumer `{consumer}`: {reason}")]
    Consumer { consumer: String, reason: String },
}

// === impl NatsOptions ===

impl NatsOptions {
    /// Options for `url` with the defaults: stream `RAMPART_EVENTS`, 7 days, 2 minutes.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: DEFAULT_STREAM.to_string(),
            credentials_file: None,
            token: None,
            tls: None,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Connects and returns a JetStream context (the client reconnects by itself afterwards).
    pub(crate) async fn connect(&self) -> Result<jetstream::Context, NatsError> {
        let mut options = async_nats::ConnectOptions::new()
            .name("rampart")
            .request_timeout(Some(self.request_timeout))
            .connection_timeout(self.request_timeout);
        if let Some(path) = &self.credentials_file {
            options =
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| NatsError::Credentials {
                        path: path.display().to_string(),
                        source,
                    })?;
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(tls) = &self.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca_file {
                options = options.add_root_certificates(ca.clone());
            }
            if let Some((cert, key)) = &tls.client_cert {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
        }
        let client = options
            .connect(self.url.as_str())
            .await
            .map_err(|e| NatsError::Connect {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(jetstream::ContextBuilder::new()
            .timeout(self.request_timeout)
            .max_ack_inflight(sink::MAX_ACK_INFLIGHT)
            .backpressure_on_inflight(true)
            .build(client))
    }

    /// Opens the stream, creating it when missing. An existing stream keeps its own settings.
    pub(crate) async fn ensure_stream(
        &self,
        js: &jetstream::Context,
    ) -> Result<stream::Stream, NatsError> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            ..Default::default()
        };
        js.get_or_create_stream(config)
            .await
            .map_err(|e| NatsError::Stream {
                stream: self.stream.clone(),
                reason: e.to_string(),
            })
    }
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("credentials_file", &self.credentials_file)
            .field("token", &self.token.as_ref().map(|_| "**REDACTED**"))
            .field("tls", &self.tls)
            .field("max_age", &self.max_age)
            .field("duplicate_window", &self.duplicate_window)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}
