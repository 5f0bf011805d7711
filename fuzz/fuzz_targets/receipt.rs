#![no_main]
//! `cairn::fuzzing::receipt` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::receipt(data));
