#![no_main]
// The body is idgate::fuzzing::saml_response, shared with the corpus replay in `make test`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| idgate::fuzzing::saml_response(data));
