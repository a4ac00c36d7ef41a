//! What rank 0 does whenever it waits during an image job: pass a cancel on to every worker
//! (once), hand the workers' progress reports to the front end, and whatever else the job needs
//! done while it waits ([`WhileWaiting`]: a streamed job writes the pieces that have arrived).

use super::Master;
use crate::model::Progress;
use crate::protocol::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Work a job does whenever rank 0 waits for anything (a global step, a worker's answer, a
/// send): the relay calls it without knowing what it is.
pub(super) trait WhileWaiting {
    fn poll(&mut self, master: &Master, on: &mut dyn FnMut(Progress));
}

/// Nothing to do while waiting (an in-memory image job).
impl WhileWaiting for () {
    fn poll(&mut self, _: &Master, _: &mut dyn FnMut(Progress)) {}
}

/// Rank 0's side of a running image job while it waits; see the module doc.
pub(super) struct CancelRelay<'a, W: WhileWaiting> {
    pub(super) master: &'a Master,
    job: u64,
    flag: &'a AtomicBool,
    sent: bool,
    pub(super) on: &'a mut dyn FnMut(Progress),
    pub(super) waiting: W,
}

impl<'a, W: WhileWaiting> CancelRelay<'a, W> {
    pub(super) fn new(
        master: &'a Master,
        job: u64,
        flag: &'a AtomicBool,
        on: &'a mut dyn FnMut(Progress),
        waiting: W,
    ) -> Self {
        CancelRelay { master, job, flag, sent: false, on, waiting }
    }

    /// True once the job is cancelled or aborted (and the workers were told).
    pub(super) fn poll(&mut self) -> bool {
        if self.flag.load(Ordering::Relaxed) {
            self.abort();
        }
        self.waiting.poll(self.master, self.on);
        if self.master.size() > 1 {
            // Reports of an earlier job still in the queue are read and dropped here.
            while let Ok(Some((p, from))) = try_receive_json::<StripProgress>(self.master.world(), None, TAG_PROGRESS) {
                if p.job == self.job {
                    (self.on)(Progress::StripProgress { rank: from as usize, fraction: p.fraction });
                }
            }
        }
        self.sent
    }

    /// Tells every worker to stop this job (once): the user cancelled, or rank 0 cannot go on.
    pub(super) fn abort(&mut self) {
        if !self.sent {
            for rank in 1..self.master.size() {
                send_json(&self.master.process(rank), TAG_CANCEL, &Cancel { job: self.job, item: None });
            }
            self.sent = true;
        }
    }

    /// Whether the user cancelled (as opposed to rank 0 aborting on an error).
    pub(super) fn cancel_asked(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}
