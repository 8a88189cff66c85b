//! Fuzz target: `kluis::fuzzing::portal_form` (its doc says what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kluis::fuzzing::portal_form(data));
