//! Fuzz target: `kluis::fuzzing::compact_jws` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::compact_jws(data));
