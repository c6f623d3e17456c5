//! The one response body type of the TCP front: a whole buffer (unary gRPC
//! answers, JSON), optionally followed by trailers, or a stream of frames
//! (gRPC streams, the gateway's streamed JSON).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{LocalBoxStream, StreamExt};
use http::HeaderMap;
use http_body::Frame;

pub(super) enum Body {
    /// Data (if any), then trailers (if any), then the end.
    Whole {
        data: Option<Bytes>,
        trailers: Option<HeaderMap>,
    },
    /// Frames as they come; the stream's end is the body's end.
    Stream(LocalBoxStream<'static, Frame<Bytes>>),
}

impl Body {
    pub(super) fn empty() -> Body {
        Body::Whole {
            data: None,
            trailers: None,
        }
    }

    pub(super) fn data(data: impl Into<Bytes>) -> Body {
        Body::Whole {
            data: Some(data.into()),
            trailers: None,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Whole { data, trailers } => {
                if let Some(d) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(d))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            Body::Stream(s) => s.poll_next_unpin(cx).map(|f| f.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(
            self,
            Body::Whole {
                data: None,
                trailers: None
            }
        )
    }
}
