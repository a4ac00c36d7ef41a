//! `GET /healthz` (is the MPI side answering?) and `GET /metrics` (Prometheus text).

use super::access::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn healthz(State(shared): State<AppState>) -> Response {
    let running = shared.running().as_ref().map(|r| r.id.clone());
    let since = shared.health.since_last().as_secs_f64();
    // Idle, the dispatcher pings the MPI thread twice a second; busy, every job event counts.
    let limit = if running.is_some() { 120.0 } else { 5.0 };
    let ok = since <= limit;
    let ranks: Vec<Value> =
        shared.ranks.iter().map(|r| json!({"rank": r.rank, "host": r.host, "cores": r.cores})).collect();
    let body = json!({"ok": ok, "mpi": if ok { "answering" } else { "not answering" },
                      "last_answer_secs": since, "running": running, "ranks": ranks});
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(shared): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::new();
    let counts = shared.store.counts().unwrap_or_default();
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let _ = writeln!(out, "# HELP imgproc_queue_length Jobs queued or running (a paused batch counts).");
    let _ = writeln!(out, "# TYPE imgproc_queue_length gauge");
    let _ = writeln!(out, "imgproc_queue_length {}", count("queued") + count("running"));
    let _ = writeln!(out, "# HELP imgproc_jobs Jobs in the store by state.");
    let _ = writeln!(out, "# TYPE imgproc_jobs gauge");
    for s in ["queued", "running", "succeeded", "failed", "canceled"] {
        let _ = writeln!(out, "imgproc_jobs{{state=\"{s}\"}} {}", count(s));
    }
    let m = &shared.metrics;
    let _ = writeln!(out, "# TYPE imgproc_images_total counter");
    let _ = writeln!(out, "imgproc_images_total {}", m.images.load(Relaxed));
    let _ = writeln!(out, "# HELP imgproc_images_per_second Results written per second over the last minute.");
    let _ = writeln!(out, "# TYPE imgproc_images_per_second gauge");
    let _ = writeln!(out, "imgproc_images_per_second {:.3}", m.rate());
    let _ = writeln!(out, "# TYPE imgproc_bytes_in_total counter");
    let _ = writeln!(out, "imgproc_bytes_in_total {}", m.bytes_in.load(Relaxed));
    let _ = writeln!(out, "# TYPE imgproc_bytes_out_total counter");
    let _ = writeln!(out, "imgproc_bytes_out_total {}", m.bytes_out.load(Relaxed));
    let _ = writeln!(out, "# HELP imgproc_turns_total Shared turns of small jobs started.");
    let _ = writeln!(out, "# TYPE imgproc_turns_total counter");
    let _ = writeln!(out, "imgproc_turns_total {}", m.turns.load(Relaxed));
    let _ = writeln!(out, "# HELP imgproc_turn_joins_total Small jobs that joined a turn already on the ranks.");
    let _ = writeln!(out, "# TYPE imgproc_turn_joins_total counter");
    let _ = writeln!(out, "imgproc_turn_joins_total {}", m.joined.load(Relaxed));
    let _ = writeln!(out, "# HELP imgproc_rank_busy_seconds_total Seconds each rank spent on items.");
    let _ = writeln!(out, "# TYPE imgproc_rank_busy_seconds_total counter");
    for (rank, secs) in m.busy().iter().enumerate() {
        let host = shared.ranks.get(rank).map_or("", |r| r.host.as_str());
        let _ = writeln!(out, "imgproc_rank_busy_seconds_total{{rank=\"{rank}\",host=\"{host}\"}} {secs:.3}");
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
