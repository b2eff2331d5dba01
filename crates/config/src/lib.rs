//! Rampart's configuration: the YAML model, strict parsing that reports every error at once with
//! its field path, and semantic checks (references, patterns, files). It does no networking and
//! starts nothing: the proxy and the control plane turn a checked [`Config`] into running parts.

mod error;
mod load;
mod model;
mod units;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use load::{QUICKSTART, from_file, from_str};
pub use model::*;
pub use units::{ByteSize, Duration};
