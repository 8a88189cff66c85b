//! Fuzz target: `kluis::fuzzing::record_body` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::record_body(data));
