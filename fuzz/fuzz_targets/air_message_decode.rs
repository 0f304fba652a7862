//! Simulated-air datagrams arrive over UDP from anyone on the host. Decoding must never panic,
//! and whatever decodes must re-encode to something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_sim::air::AirMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = AirMessage::decode(data) {
        let again = AirMessage::decode(&message.encode()).expect("re-encoded message decodes");
        assert_eq!(format!("{again:?}"), format!("{message:?}"));
    }
});
