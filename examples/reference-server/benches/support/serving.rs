//! The reference server in-process for a bench: spawned on the server's runtime, serving on a
//! loopback listener until stopped. The load harness itself (databases, load loops, reports'
//! machine facts) is `workos_tests::bench`; this is the part that needs the server crate.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use workos_reference_server::state::AppState;
use workos_reference_server::{app, serve};

/// A server serving until [`Serving::stop`].
pub(crate) struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Serves `state`'s app on `listener`, on the runtime of `rt`.
pub(crate) fn spawn(rt: &Handle, listener: TcpListener, state: AppState) -> Serving {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = rt.spawn(serve(listener, app(state), async move {
        let _ = stopped.await;
    }));
    Serving { stop, task }
}

impl Serving {
    /// Stops accepting and waits up to 30 s for the server to finish; says how it did not.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("server error: {e}"),
            Ok(Err(e)) => eprintln!("server task: {e}"),
            Err(_) => eprintln!("server did not stop within 30 s"),
        }
    }
}

/// Serves `state` on `listener` (on `server_rt`) while `client` runs to its end on `client_rt`,
/// then stops the server and closes the state's store. Answers what `client` answered.
// Not every bench that includes this file serves this way (webhooks starts one server per
// scenario).
#[allow(dead_code)]
pub(crate) fn serve_during<T>(
    server_rt: &Runtime,
    client_rt: &Runtime,
    listener: TcpListener,
    state: AppState,
    client: impl Future<Output = T>,
) -> T {
    if let Ok(addr) = listener.local_addr() {
        eprintln!("server listening on {addr}");
    }
    let server = spawn(server_rt.handle(), listener, state.clone());
    let out = client_rt.block_on(client);
    server_rt.block_on(async {
        server.stop().await;
        state.store.close().await;
    });
    out
}
