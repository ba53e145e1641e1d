//! The config parser and validator: any text must become a `Config` or an `Error` that names
//! the key, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use martsync::config::RawConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(raw) = RawConfig::parse(text, "fuzz.toml") {
        // No environment: the fuzzed text alone decides every value.
        if let Ok(config) = raw.validate("fuzz.toml", &|_| None) {
            // Errors and `config check` print these; they must not panic either.
            let _ = format!("{config:?}");
        }
    }
});
