//! Rank 0's side of the global steps of an image job: it gathers every strip's contribution,
//! combines them (the histogram's sum, the hysteresis's union-find) and answers each rank, while
//! its [`CancelRelay`] keeps watching for a cancel.

use super::relay::{CancelRelay, WhileWaiting};
use crate::exec::{GlobalExchange, ProgressThrottle};
use crate::global::{self, HysteresisReply, HysteresisRequest};
use crate::model::Progress;
use crate::protocol::*;
use anyhow::{Context, Result};

/// Rank 0's side of the global steps: it gathers everyone's contribution, combines them and
/// answers each rank.
pub(super) struct RootExchange<'a, 'm, W: WhileWaiting> {
    relay: &'a mut CancelRelay<'m, W>,
    width: usize,
    height: usize,
    throttle: ProgressThrottle,
}

impl<'a, 'm, W: WhileWaiting> RootExchange<'a, 'm, W> {
    /// For an image of `width`×`height` (the hysteresis joins labels over the whole image).
    pub(super) fn new(relay: &'a mut CancelRelay<'m, W>, width: usize, height: usize) -> Self {
        RootExchange { relay, width, height, throttle: ProgressThrottle::default() }
    }

    /// Every worker's contribution to a step with `tag`, in rank order after rank 0's.
    fn gather<T: serde::de::DeserializeOwned>(&mut self, tag: mpi::Tag, mine: Option<T>) -> Result<Vec<Option<T>>> {
        let mut all = vec![mine];
        for r in 1..self.relay.master.size() {
            let relay = &mut *self.relay;
            let (part, _) = receive_json::<Option<T>>(relay.master.world(), Some(r as i32), tag, &mut || {
                relay.poll();
            })
            .with_context(|| format!("waiting for rank {r} at a global step"))?;
            all.push(part);
        }
        Ok(all)
    }
}

impl<W: WhileWaiting> GlobalExchange for RootExchange<'_, '_, W> {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>> {
        let parts = self.gather::<Vec<u64>>(TAG_HISTOGRAM, local.map(|h| h.to_vec()))?;
        let total: Option<[u64; 256]> = parts.into_iter().try_fold([0u64; 256], |mut total, part| {
            let part = part?;
            total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
            Some(total)
        });
        let reply = total.map(|t| t.to_vec());
        for r in 1..self.relay.master.size() {
            send_json(&self.relay.master.process(r), TAG_HISTOGRAM, &reply);
        }
        Ok(total)
    }

    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>> {
        let requests = self.gather::<HysteresisRequest>(TAG_HYSTERESIS, local)?;
        let all: Option<Vec<HysteresisRequest>> = requests.into_iter().collect();
        let replies = all.map(|reqs| global::resolve_hysteresis(&reqs, self.width, self.height)).transpose();
        // Even when rank 0 cannot resolve, every worker gets an answer (none: abandon), never a hang.
        let sendable = replies.as_ref().ok().and_then(Option::as_ref);
        for r in 1..self.relay.master.size() {
            let reply = sendable.map(|v| v[r].clone());
            send_json(&self.relay.master.process(r), TAG_HYSTERESIS, &reply);
        }
        let replies = replies?;
        Ok(replies.map(|mut v| v.swap_remove(0)))
    }

    fn cancelled(&mut self) -> bool {
        self.relay.poll()
    }

    fn progress(&mut self, fraction: f64) {
        if self.throttle.ready(fraction) {
            (self.relay.on)(Progress::StripProgress { rank: 0, fraction });
        }
    }
}
