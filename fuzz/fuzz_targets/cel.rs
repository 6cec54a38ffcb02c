#![no_main]
//! Fuzz target: attestd::fuzzing::cel (must never panic or hang).
libfuzzer_sys::fuzz_target!(|data: &[u8]| attestd::fuzzing::cel(data));
