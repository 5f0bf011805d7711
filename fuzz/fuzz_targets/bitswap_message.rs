#![no_main]
//! `cairn::fuzzing::bitswap_message` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::bitswap_message(data));
