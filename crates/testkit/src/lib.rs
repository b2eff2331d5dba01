//! Test helpers for Rampart (dev-dependency only): the HTTP desync corpus as raw requests,
//! recording upstream servers, raw TCP clients, a throwaway CA, a real `nats-server` launcher and a harness for the rampart
//! binary. No crate may depend on it outside `[dev-dependencies]`: nothing here is fit for
//! production, and it panics on any setup failure so that a broken test stops with a clear message.

// This crate is test support: a failed setup step (a port that cannot be bound, a corpus file that
// does not parse) must stop the test at once with a clear message, so unwrap/expect/panic are the
// intended way to fail here. The workspace denies them everywhere else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod certs;
pub mod desync;
pub mod nats;
pub mod process;
pub mod raw;
pub mod upstream;

pub use certs::{TestCa, TestCert};
pub use desync::Case;
pub use process::{RampartProcess, free_port};
pub use raw::{RawReply, SlowReport, send_raw, slow_headers};
pub use upstream::{RawUpstream, Recorded, RecordingUpstream};
