//! Base types shared by every Rampart crate: secrets that cannot be printed, constant-time
//! comparison, and small identifiers. It owns no I/O and depends on no other Rampart crate.

mod sensitive;
pub mod spiffe;

pub use sensitive::{Sensitive, ct_eq};

/// The version of Rampart, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
