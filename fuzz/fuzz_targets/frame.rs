#![no_main]
//! `cairn::fuzzing::frame` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::frame(data));
