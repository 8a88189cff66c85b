//! Fuzz target: `kluis::fuzzing::dpop_proof` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::dpop_proof(data));
