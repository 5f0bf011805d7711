#![no_main]
//! `cairn::fuzzing::signed_envelope` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::signed_envelope(data));
