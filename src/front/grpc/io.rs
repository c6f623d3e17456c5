//! hyper on glommio: an executor that spawns hyper's connection tasks on the
//! current core (`spawn_local`, so futures need not be `Send`), and an
//! adapter from futures-io streams (glommio's `TcpStream`, futures-rustls'
//! `TlsStream`) to hyper's own I/O traits.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

/// Most bytes one read asks the socket for (hyper offers larger buffers; we
/// only initialise what we read into).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Spawns hyper's tasks on the current glommio executor.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        glommio::spawn_local(fut).detach();
    }
}

/// A futures-io stream as hyper I/O.
pub(super) struct HyperIo<T>(pub T);

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: we only write initialised bytes into the cursor's spare
        // capacity and advance it by exactly the number of bytes read.
        let spare: &mut [MaybeUninit<u8>] = unsafe { buf.as_mut() };
        let len = spare.len().min(READ_CHUNK_BYTES);
        for b in &mut spare[..len] {
            b.write(0);
        }
        // SAFETY: the first `len` bytes were initialised just above.
        let dst: &mut [u8] =
            unsafe { &mut *(&mut spare[..len] as *mut [MaybeUninit<u8>] as *mut [u8]) };
        match Pin::new(&mut self.0).poll_read(cx, dst) {
            Poll::Ready(Ok(n)) => {
                // SAFETY: `n <= len` bytes were filled by the read.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
