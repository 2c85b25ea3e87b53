#![no_main]
//! Fuzz target: `tidings_proto::fuzz::block_decoder` must never panic, whatever the input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_proto::fuzz::block_decoder(data));
