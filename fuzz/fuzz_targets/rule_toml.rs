#![no_main]
//! Fuzz target: attestd::fuzzing::rule_toml (must never panic or hang).
libfuzzer_sys::fuzz_target!(|data: &[u8]| attestd::fuzzing::rule_toml(data));
