//! Any bytes as a request head: `check_head` must never panic, and what it accepts must have
//! exactly one framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_proxy::framing::{BodyKind, HeadLimits, check_head};

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits { max_uri_bytes: 8192, max_header_bytes: 16384, max_header_count: 100 };
    if let Ok(info) = check_head(data, &limits) {
        let text = String::from_utf8_lossy(data).to_ascii_lowercase();
        let cl = text.contains("\ncontent-length:");
        let te = text.contains("\ntransfer-encoding:");
        assert!(!(cl && te), "both framings accepted");
        if let BodyKind::Chunked = info.body {
            assert!(te);
        }
    }
});
