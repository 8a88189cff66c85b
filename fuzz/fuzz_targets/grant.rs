//! Fuzz target: `kluis::fuzzing::grant` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::grant(data));
