//! Fuzz target: `kluis::fuzzing::client_assertion` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::client_assertion(data));
