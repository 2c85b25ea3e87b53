#![no_main]
//! Fuzz target: `tidings_article::fuzz::header_parser` must never panic, whatever the input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tidings_article::fuzz::header_parser(data));
