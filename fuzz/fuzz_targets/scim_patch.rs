#![no_main]
// The body is idgate::fuzzing::scim_patch, shared with the corpus replay in `make test`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| idgate::fuzzing::scim_patch(data));
