//! quinn on glommio: an implementation of [`quinn::Runtime`] whose timers are
//! glommio timers, whose tasks are glommio local tasks and whose UDP socket
//! gets its readiness from glommio's io_uring reactor. No second reactor
//! (tokio, async-io) is ever started on a server core: cross-reactor wake-ups
//! cost ~26 ms per round trip on these machines (DESIGN.md §12).
//!
//! # The one-executor invariant
//!
//! quinn requires its runtime, timers, sockets and pollers to be
//! `Send + Sync`; glommio's timers, sockets and tasks are `!Send` (they hold
//! `Rc`s into the executor's reactor). The bridge is [`OnExecutor`], a wrapper
//! that is `Send + Sync` because it refuses to touch its value anywhere but
//! on the thread that created it:
//!
//! * access from another thread panics (a programmer error, loudly);
//! * drop on another thread leaks the value instead of dropping it there
//!   (and logs an error), so a misplaced drop is a leak, never a data race.
//!
//! Hence the rule for users of this runtime: **an endpoint and all of its
//! connections and streams live and die on the executor that created the
//! endpoint.** quinn only touches our glommio-backed parts from the tasks it
//! spawns through this runtime — all on that executor — plus whatever the
//! application does with its handles, which it keeps on the same executor.
//! Waking a glommio task from another thread is safe (glommio queues foreign
//! wake-ups), so quinn's internal wakers need no special care.
//!
//! # Sockets
//!
//! Datagrams are sent and received by `quinn_udp::UdpSocketState` on a
//! non-blocking socket (GSO/GRO, ECN, pktinfo as on any runtime). For
//! receive readiness, a duplicate of the socket's descriptor is wrapped in a
//! `glommio::net::UdpSocket`, and a one-byte `MSG_PEEK` receive is submitted
//! to io_uring whenever the socket is drained: its completion means "a
//! datagram is queued", and peeking leaves the datagram for quinn_udp.
//! glommio exposes no write readiness for UDP, so the socket is reported
//! writable by default; after a send hits `EWOULDBLOCK` (a full socket send
//! buffer), writers back off [`SEND_RETRY_BACKOFF`] before retrying.

use std::{
    cell::RefCell,
    fmt,
    future::Future,
    io::{self, IoSliceMut},
    mem::ManuallyDrop,
    net::SocketAddr,
    os::fd::{FromRawFd, IntoRawFd},
    pin::Pin,
    rc::Rc,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use glommio::{timer::Timer, TaskQueueHandle};
use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, UdpPoller};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

/// How long a writer waits before retrying after the socket's send buffer
/// was full. glommio offers no UDP write readiness, so this bounds the cost
/// of a full buffer to one retry per interval instead of a busy loop.
pub const SEND_RETRY_BACKOFF: Duration = Duration::from_micros(200);

static NEXT_THREAD_TOKEN: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static THREAD_TOKEN: usize = NEXT_THREAD_TOKEN.fetch_add(1, Ordering::Relaxed);
}

fn thread_token() -> usize {
    THREAD_TOKEN.with(|t| *t)
}

/// A value pinned to the thread (hence the glommio executor) that created it.
///
/// `Send + Sync` so that quinn can hold it; using it from another thread
/// panics, and dropping it on another thread leaks it. See the module docs.
pub struct OnExecutor<T> {
    value: ManuallyDrop<T>,
    home: usize,
}

// SAFETY: the wrapped value is only ever accessed (`get`, `get_mut`) or
// dropped on its home thread; both accessors assert it, and `Drop` leaks the
// value when run elsewhere. Moving the wrapper between threads moves bytes
// without touching the value, which is sound for `!Send` types such as `Rc`.
unsafe impl<T> Send for OnExecutor<T> {}
// SAFETY: a shared reference only allows `get`, which asserts the home thread,
// so no two threads ever observe the value.
unsafe impl<T> Sync for OnExecutor<T> {}

impl<T> OnExecutor<T> {
    /// Wraps `value`, making the current thread its home.
    pub fn new(value: T) -> OnExecutor<T> {
        OnExecutor {
            value: ManuallyDrop::new(value),
            home: thread_token(),
        }
    }

    /// Whether the current thread is the value's home.
    pub fn is_home(&self) -> bool {
        self.home == thread_token()
    }

    #[track_caller]
    fn assert_home(&self) {
        assert!(
            self.is_home(),
            "a glommio-backed quinn object was used off its executor thread; \
             endpoints, connections and streams must stay on the executor that made them"
        );
    }

    /// The value; panics off the home thread.
    #[track_caller]
    pub fn get(&self) -> &T {
        self.assert_home();
        &self.value
    }

    /// The value; panics off the home thread.
    #[track_caller]
    pub fn get_mut(&mut self) -> &mut T {
        self.assert_home();
        &mut self.value
    }
}

impl<T> Drop for OnExecutor<T> {
    fn drop(&mut self) {
        if self.is_home() {
            // SAFETY: dropped exactly once, here, on the home thread; the
            // value is never used again.
            unsafe { ManuallyDrop::drop(&mut self.value) }
        } else {
            tracing::error!(
                "leaking a glommio-backed quinn object dropped off its executor thread \
                 (endpoint, connection or stream handle moved across threads)"
            );
        }
    }
}

impl<T> fmt::Debug for OnExecutor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnExecutor")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// A [`quinn::Runtime`] driving quinn on the current glommio executor.
#[derive(Debug, Clone)]
pub struct GlommioRuntime {
    executor_id: usize,
    task_queue: Option<TaskQueueHandle>,
}

impl GlommioRuntime {
    /// A runtime for the current executor, spawning into the current task
    /// queue. Panics outside a glommio executor.
    pub fn new() -> GlommioRuntime {
        GlommioRuntime {
            executor_id: glommio::executor().id(),
            task_queue: None,
        }
    }

    /// Like [`GlommioRuntime::new`], spawning quinn's tasks into `task_queue`.
    pub fn with_task_queue(task_queue: TaskQueueHandle) -> GlommioRuntime {
        GlommioRuntime {
            executor_id: glommio::executor().id(),
            task_queue: Some(task_queue),
        }
    }

    /// The id of the executor this runtime belongs to.
    pub fn executor_id(&self) -> usize {
        self.executor_id
    }

    #[track_caller]
    fn assert_on_executor(&self) {
        let here = glommio::executor().id();
        assert_eq!(
            here, self.executor_id,
            "quinn on glommio: runtime of executor {} used on executor {here}",
            self.executor_id
        );
    }
}

impl Default for GlommioRuntime {
    fn default() -> Self {
        GlommioRuntime::new()
    }
}

impl Runtime for GlommioRuntime {
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        self.assert_on_executor();
        let timer = Timer::new(deadline.saturating_duration_since(Instant::now()));
        Box::pin(GlommioTimer(OnExecutor::new(timer)))
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.assert_on_executor();
        match self.task_queue {
            None => glommio::spawn_local(future).detach(),
            Some(tq) => match glommio::spawn_local_into(future, tq) {
                Ok(task) => task.detach(),
                // The queue handle came from this executor, so this is a bug;
                // losing quinn's driver would silently kill a connection.
                Err(e) => panic!("quinn on glommio: cannot spawn into task queue: {e}"),
            },
        };
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.assert_on_executor();
        Ok(Arc::new(GlommioUdpSocket::new(socket)?))
    }
}

/// A glommio timer as quinn's [`AsyncTimer`].
struct GlommioTimer(OnExecutor<Timer>);

impl fmt::Debug for GlommioTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GlommioTimer")
    }
}

impl AsyncTimer for GlommioTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let timer = self.get_mut().0.get_mut();
        timer.reset(deadline.saturating_duration_since(Instant::now()));
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let timer = self.get_mut().0.get_mut();
        Pin::new(timer).poll(cx).map(|_| ())
    }
}

type ReadableFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// Receive readiness: glommio's view of a duplicate of the socket's fd, and
/// the outstanding `MSG_PEEK` receive, if any.
struct RecvReadiness {
    watcher: Rc<glommio::net::UdpSocket>,
    pending: Option<ReadableFuture>,
}

impl RecvReadiness {
    fn wait_readable(&self) -> ReadableFuture {
        let watcher = self.watcher.clone();
        Box::pin(async move {
            let mut byte = [0u8; 1];
            watcher.peek_from(&mut byte).await?;
            Ok(())
        })
    }
}

/// A UDP socket for quinn: I/O through quinn_udp, readiness through glommio.
struct GlommioUdpSocket {
    io: std::net::UdpSocket,
    state: UdpSocketState,
    local_addr: SocketAddr,
    send_blocked: AtomicBool,
    recv: OnExecutor<RefCell<RecvReadiness>>,
}

impl GlommioUdpSocket {
    fn new(io: std::net::UdpSocket) -> io::Result<GlommioUdpSocket> {
        // Sets O_NONBLOCK and the socket options quinn_udp relies on.
        let state = UdpSocketState::new((&io).into())?;
        let local_addr = io.local_addr()?;
        let dup_fd = io.try_clone()?.into_raw_fd();
        // SAFETY: `dup_fd` is a freshly duplicated, open UDP socket descriptor
        // that nothing else owns; glommio's socket takes ownership and closes it.
        let watcher = unsafe { glommio::net::UdpSocket::from_raw_fd(dup_fd) };
        Ok(GlommioUdpSocket {
            io,
            state,
            local_addr,
            send_blocked: AtomicBool::new(false),
            recv: OnExecutor::new(RefCell::new(RecvReadiness {
                watcher: Rc::new(watcher),
                pending: None,
            })),
        })
    }
}

impl fmt::Debug for GlommioUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioUdpSocket")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for GlommioUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(GlommioUdpPoller {
            socket: self,
            backoff: OnExecutor::new(None),
        })
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        match self.state.send((&self.io).into(), transmit) {
            Ok(()) => {
                self.send_blocked.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.send_blocked.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut readiness = self.recv.get().borrow_mut();
        loop {
            if let Some(pending) = readiness.pending.as_mut() {
                match pending.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        readiness.pending = None;
                        result?;
                    }
                }
            }
            match self.state.recv((&self.io).into(), bufs, meta) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Drained: arm a peek and poll it (registers cx's waker).
                    readiness.pending = Some(readiness.wait_readable());
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    fn max_transmit_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.state.gro_segments()
    }

    fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }
}

/// Write readiness for one quinn task: ready unless the last send found the
/// socket buffer full, in which case ready after [`SEND_RETRY_BACKOFF`].
struct GlommioUdpPoller {
    socket: Arc<GlommioUdpSocket>,
    backoff: OnExecutor<Option<Timer>>,
}

impl fmt::Debug for GlommioUdpPoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioUdpPoller").finish_non_exhaustive()
    }
}

impl UdpPoller for GlommioUdpPoller {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let backoff = this.backoff.get_mut();
        if !this.socket.send_blocked.load(Ordering::Relaxed) {
            *backoff = None;
            return Poll::Ready(Ok(()));
        }
        let timer = backoff.get_or_insert_with(|| Timer::new(SEND_RETRY_BACKOFF));
        match Pin::new(timer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                *backoff = None;
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_executor_refuses_foreign_threads_and_leaks_instead_of_dropping() {
        let wrapped = OnExecutor::new(Rc::new(5));
        assert_eq!(**wrapped.get(), 5);
        let moved = std::thread::spawn(move || {
            let access = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| **wrapped.get()));
            assert!(access.is_err(), "foreign access must panic");
            // Dropped here, off its home thread: leaked, not dropped.
        });
        assert!(moved.join().is_ok());
    }

    #[test]
    fn timers_and_sockets_work_on_an_executor() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let rt = GlommioRuntime::new();
                let mut timer = rt.new_timer(Instant::now() + Duration::from_millis(5));
                let start = Instant::now();
                std::future::poll_fn(|cx| timer.as_mut().poll(cx)).await;
                assert!(start.elapsed() >= Duration::from_millis(4));

                let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a");
                let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind b");
                let b_addr = b.local_addr().expect("addr");
                let b = rt.wrap_udp_socket(b).expect("wrap");
                let sender = glommio::spawn_local(async move {
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    a.send_to(b"ping", b_addr).expect("send");
                });
                let mut buf = [0u8; 2048];
                let mut meta = [RecvMeta::default()];
                let n = std::future::poll_fn(|cx| {
                    let mut bufs = [IoSliceMut::new(&mut buf)];
                    b.poll_recv(cx, &mut bufs, &mut meta)
                })
                .await
                .expect("recv");
                assert_eq!(n, 1);
                assert_eq!(&buf[..meta[0].len], b"ping");
                sender.await;
            })
            .expect("executor");
        ex.join().expect("join");
    }
}
