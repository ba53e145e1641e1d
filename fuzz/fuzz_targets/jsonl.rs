//! The JSON-lines source-file reader (key spelling taken from the first record).
#![no_main]

mod reader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reader::read(data, "jsonl"));
