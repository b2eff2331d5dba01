//! The real `nats-server` launcher lives in `rampart_testkit::nats` (shared with the control
//! plane's tests).

#![allow(unused_imports)]

pub use rampart_testkit::nats::*;
