//! A worker's share of a classify batch: the model loaded once (kept for the next job with the
//! same model and batch size), then the indices rank 0 hands out, taken a forward pass at a time.

use super::Worker;
use crate::classify::net::Classifier;
use crate::classify::run::{classify_group, GroupItem};
use crate::model::{Failure, Produced};
use crate::protocol::*;
use crate::reach::BatchReach;
use crate::row_source::Fingerprint;
use anyhow::Result;
use mpi::traits::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker with part of a forward pass in hand waits for the rest to arrive: rank 0
/// sends a batch's indices back to back, so they come within microseconds; a short batch at
/// the end of the job must not wait long.
const GATHER_WAIT: Duration = Duration::from_millis(3);

impl Worker<'_> {
    pub(super) fn classify_job(&mut self, job: &BatchJob, c: &ClassifyJob) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let reach = job.reach.as_ref().map(|r| BatchReach::check(&r.probe, &r.out_dir, &r.sample));
        // The model: kept from the last job, read from the same file here, or sent by rank 0.
        // Ready goes before the network loads: rank 0 starts handing out images (and works on
        // its own share) while this rank loads, instead of waiting for every rank's model. A
        // model that does not load here fails every image of this rank, by name.
        let key = format!("{}/{}", c.spec.fingerprint, c.batch);
        let mut broken: Option<String> = None;
        let load = self.model.as_ref().is_none_or(|(k, _)| *k != key);
        let mut bytes = None;
        if load {
            self.model = None;
            let sees = Fingerprint::of(&c.spec.model).is_ok_and(|f| f == c.model_file);
            if !sees {
                send_json(&root, TAG_BATCH_UP, &BatchUp::NeedModel);
                let BatchDown::Model { bytes: len } = self.next_from_root(TAG_BATCH_DOWN)? else {
                    anyhow::bail!("rank 0 answered NeedModel with something else");
                };
                let mut buf = vec![0u8; len];
                receive_bytes(&root, TAG_BATCH_DOWN_BYTES, &mut buf);
                bytes = Some(buf);
            }
        }
        send_json(&root, TAG_BATCH_UP, &BatchUp::Ready(reach));
        if load {
            match Classifier::load(Arc::new(c.spec.clone()), c.batch, bytes.as_deref()) {
                Ok(classifier) => self.model = Some((key, classifier)),
                Err(e) => broken = Some(format!("rank {}: {e:#}", self.rank)),
            }
            drop(bytes);
        }
        let mut stats = self.stats();
        let mut finished = false;
        while !finished {
            let started = Instant::now();
            let mut group = Vec::new();
            let first: BatchDown = self.next_from_root(TAG_BATCH_DOWN)?;
            finished = self.take(first, &mut group)?;
            let deadline = Instant::now() + GATHER_WAIT;
            while !finished && group.len() < c.batch && Instant::now() < deadline {
                match try_receive_json::<BatchDown>(self.world, Some(0), TAG_BATCH_DOWN)? {
                    Some((down, _)) => finished = self.take(down, &mut group)?,
                    None => std::thread::yield_now(),
                }
            }
            stats.send_secs += started.elapsed().as_secs_f64();
            stats.bytes_received += group.iter().map(|g| g.bytes.as_ref().map_or(0, Vec::len) as u64).sum::<u64>();
            let (live, cancelled): (Vec<_>, Vec<_>) =
                group.into_iter().partition(|g| !self.is_cancelled(job.id, Some(g.index)));
            let mut results: Vec<(usize, f64, Result<Vec<u8>, Failure>)> =
                cancelled.iter().map(|g| (g.index, 0.0, Err(Failure::Cancelled))).collect();
            let started = Instant::now();
            match (&mut self.model, &broken) {
                (Some((_, classifier)), None) if !live.is_empty() => {
                    let done = classify_group(classifier, live, job.max_pixels, self.rank);
                    results.extend(done.into_iter().map(|(i, s, r)| (i, s, r.map_err(Failure::Failed))));
                }
                _ => {
                    let why = broken.clone().unwrap_or_else(|| "the model is not loaded".into());
                    results.extend(live.iter().map(|g| (g.index, 0.0, Err(Failure::Failed(why.clone())))));
                }
            }
            stats.compute_secs += started.elapsed().as_secs_f64();
            let started = Instant::now();
            for (index, secs, outcome) in results {
                stats.images += usize::from(outcome.is_ok());
                match outcome {
                    Ok(record) => {
                        let up = BatchUp::Done { index, outcome: Ok(Produced::Bytes(record.len())), secs };
                        send_json(&root, TAG_BATCH_UP, &up);
                        send_bytes(&root, TAG_BATCH_UP_BYTES, &record);
                        stats.bytes_sent += record.len() as u64;
                    }
                    Err(failure) => {
                        send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, outcome: Err(failure), secs })
                    }
                }
            }
            stats.collect_secs += started.elapsed().as_secs_f64();
        }
        send_json(&root, TAG_BATCH_UP, &BatchUp::Stats(stats));
        Ok(())
    }

    /// Adds one message from rank 0 to the group (with its bytes, when they follow); true for
    /// `Finish`.
    fn take(&mut self, down: BatchDown, group: &mut Vec<GroupItem>) -> Result<bool> {
        match down {
            BatchDown::Work { index, input, bytes, .. } => {
                let bytes = bytes.map(|len| {
                    let mut buf = vec![0u8; len];
                    receive_bytes(&self.world.process_at_rank(0), TAG_BATCH_DOWN_BYTES, &mut buf);
                    buf
                });
                group.push(GroupItem { index, file: input, bytes });
                Ok(false)
            }
            BatchDown::Finish => Ok(true),
            BatchDown::Model { .. } => anyhow::bail!("rank 0 sent a model in the middle of a batch"),
        }
    }
}
