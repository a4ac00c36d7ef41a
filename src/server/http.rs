//! The listener: tokio on two threads of its own, each connection served by hyper with a
//! header-read timeout (a client that sends its headers slowly is dropped; bodies have their
//! own idle timeout in `upload.rs`), until SIGINT or SIGTERM.

use super::routes;
use super::state::Shared;
use anyhow::{Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;

pub fn serve(shared: Arc<Shared>, listen: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .context("starting the HTTP threads")?;
    let header_timeout = shared.limits.idle;
    let result = runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("{listen}: cannot listen"))?;
        eprintln!("imgproc serve: listening on http://{}", listener.local_addr()?);
        let app = routes::router(shared);
        let mut stop = std::pin::pin!(stop_signal());
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    tokio::spawn(async move {
                        let mut http = hyper::server::conn::http1::Builder::new();
                        http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    });
                }
                _ = &mut stop => break,
            }
        }
        eprintln!("imgproc serve: stopping");
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
