#![no_main]
use caregate_extract::fuzz;
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::zip(data));
