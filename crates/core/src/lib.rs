//! Base types shared by every Rampart crate: secrets that cannot be printed, constant-time
//! comparison, small identifiers, and URL redaction for messages. It owns no I/O and depends on no other Rampart crate.

mod sensitive;
pub mod spiffe;
mod url;

pub use sensitive::{Sensitive, ct_eq};
pub use url::redact_url;

/// The version of Rampart, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
