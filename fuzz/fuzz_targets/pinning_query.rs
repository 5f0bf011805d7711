#![no_main]
//! `cairn::fuzzing::pinning_query` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::pinning_query(data));
