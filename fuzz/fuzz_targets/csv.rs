//! The CSV source-file reader (header-mapped columns, conform to the mart schema).
#![no_main]

mod reader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reader::read(data, "csv"));
