#![no_main]
//! `cairn::fuzzing::market_message` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::market_message(data));
