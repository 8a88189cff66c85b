//! Fuzz target: `kluis::fuzzing::audit_entry` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::audit_entry(data));
