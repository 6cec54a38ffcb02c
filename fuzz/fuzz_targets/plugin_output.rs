#![no_main]
//! Fuzz target: attestd_collectors::fuzzing::plugin_output (must never panic or hang).
libfuzzer_sys::fuzz_target!(|data: &[u8]| attestd_collectors::fuzzing::plugin_output(data));
