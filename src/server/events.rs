//! `GET /api/jobs/{id}/events`: the job's news as Server-Sent Events. Every event carries an
//! id, the job's `seq` when it was sent: `item` events (an input went on a rank, or ended:
//! succeeded or failed),
//! then a `state` event (the whole job: status, progress, counts), and `end` once the job is
//! final. A client that reconnects with `Last-Event-ID: k` gets every item that ended after k
//! and the state as it is now — nothing is missed, even across a server restart, because both
//! come from the store, not from memory.

use super::access::{job_json, own_job, AppState};
use super::error::ApiResult;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

pub async fn stream(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    own_job(&shared, &headers, &id)?;
    let mut last: u64 =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let mut changes = shared.changes.subscribe();
        let mut first = true;
        loop {
            // What this round reads covers every change up to here.
            let seen = shared.changes.version(&id);
            // The job first, then the items up to its seq: an item ending in between has a
            // later seq and comes in the next round.
            let Ok(Some(job)) = shared.store.job(&id, None) else {
                let _ = tx.send(Event::default().event("end").data("{\"status\":\"deleted\"}")).await;
                return;
            };
            let items = shared.store.items_after(&id, last).unwrap_or_default();
            for item in items.iter().filter(|i| i.seq <= job.seq) {
                let event = Event::default().event("item").id(item.seq.to_string()).json_data(item);
                if tx.send(event.unwrap_or_default()).await.is_err() {
                    return;
                }
            }
            if job.seq > last || first {
                let event =
                    Event::default().event("state").id(job.seq.to_string()).json_data(job_json(&shared, &job, None));
                if tx.send(event.unwrap_or_default()).await.is_err() {
                    return;
                }
                last = job.seq;
                first = false;
            }
            if job.status.is_final() {
                let _ = tx.send(Event::default().event("end").id(job.seq.to_string()).data(job.status.as_str())).await;
                return;
            }
            // Other jobs' news wakes this stream too; it reads the store again only for its own.
            while shared.changes.version(&id) == seen {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
            // Changes come in bursts (an image ends, its progress follows): take them as one.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let events = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
