//! Any path: normalising must never panic, must be idempotent, and never leave dot segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_proxy::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(once) = normalize(text) {
        let twice = normalize(&once).expect("a normalised path normalises");
        assert_eq!(once, twice);
        assert!(!once.split('/').any(|s| s == "." || s == ".."));
    }
});
