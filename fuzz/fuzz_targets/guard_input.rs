#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bt_exec::fuzz_targets::run("guard_input", data));
