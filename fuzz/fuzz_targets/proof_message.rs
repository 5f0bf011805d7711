#![no_main]
//! `cairn::fuzzing::proof_message` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::proof_message(data));
