#![no_main]
//! Fuzz target: attestd_collectors::fuzzing::pam (must never panic or hang).
libfuzzer_sys::fuzz_target!(|data: &[u8]| attestd_collectors::fuzzing::pam(data));
