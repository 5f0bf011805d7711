#![no_main]
//! `cairn::fuzzing::pay_message` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::pay_message(data));
