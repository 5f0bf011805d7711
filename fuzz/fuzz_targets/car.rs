#![no_main]
//! `cairn::fuzzing::car` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::car(data));
