//! Random bytes never panic the etcq/1 decoders: every input is either
//! decoded or refused with a `FrameError`.

use bytes::{Bytes, BytesMut};
use etcq_net::{
    frame::{decode_response, decode_response_message, FrameDecoder, FrameError},
    method::Method,
    pb::etcdserverpb::{RangeResponse, TxnRequest, WatchRequest, WatchResponse},
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frame_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..300) {
        let decoder = FrameDecoder::new(max);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut total = 0;
        loop {
            match decoder.decode_eof(&mut buf) {
                Ok(Some(frame)) => {
                    prop_assert!(frame.len() <= max);
                    total += 4 + frame.len();
                }
                Ok(None) => {
                    prop_assert_eq!(total, bytes.len());
                    break;
                }
                Err(FrameError::TooLarge { len, max: m }) => {
                    prop_assert!(len > m);
                    break;
                }
                Err(FrameError::Truncated { expected, got }) => {
                    prop_assert!(got < expected);
                    break;
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }

    #[test]
    fn response_and_message_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let payload = Bytes::from(bytes.clone());
        let _ = decode_response(payload.clone());
        let _ = decode_response_message::<WatchResponse>(payload.clone());
        let _ = decode_response_message::<RangeResponse>(payload.clone());
        let _ = <TxnRequest as prost::Message>::decode(payload.clone());
        let _ = <WatchRequest as prost::Message>::decode(payload);
        if let Some(&code) = bytes.first() {
            if let Some(m) = Method::from_code(code) {
                prop_assert_eq!(m.code(), code);
            }
        }
    }
}
