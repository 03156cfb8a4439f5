//! The JSON body of every route, parsed as authd parses it: any bytes give a value or a
//! 400 with the contract's body, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    auth_http::fuzzing::request_bodies(data);
});
