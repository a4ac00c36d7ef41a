//! The end of a batch that a stalled rank did not see through: its late answers are taken and
//! thrown away before the next command, so no message of an old batch is read as a new one's.

use super::Master;
use crate::model::Produced;
use crate::protocol::*;
use anyhow::Result;
use std::time::Instant;

impl Master {
    /// Waits for ranks that were still running a copy of an item done elsewhere when the last
    /// batch ended (a stalled node): takes their late result and throws it away, then their
    /// totals. Called before anything else is asked of the workers.
    pub(super) fn settle(&self) -> Result<()> {
        self.settle_until(None).map(|_| ())
    }

    /// [`Master::settle`], giving up at `deadline` (the end of the job, when nothing more will be
    /// asked of them): returns the ranks that still owe their answer.
    pub(super) fn settle_until(&self, deadline: Option<Instant>) -> Result<Vec<usize>> {
        let lingering = std::mem::take(&mut *self.lingering.borrow_mut());
        for (i, &rank) in lingering.iter().enumerate() {
            let from = Some(rank as i32);
            loop {
                let up = match deadline {
                    None => Some(receive_json::<BatchUp>(self.world(), from, TAG_BATCH_UP, &mut || {})?),
                    Some(at) => poll_for(at.saturating_duration_since(Instant::now()), || {
                        try_receive_json::<BatchUp>(self.world(), from, TAG_BATCH_UP)
                    })?,
                };
                let Some((up, _)) = up else { return Ok(lingering[i..].to_vec()) };
                match up {
                    BatchUp::Done { outcome: Ok(Produced::Bytes(len)), .. } => {
                        let mut buf = vec![0u8; len];
                        receive_bytes(&self.process(rank), TAG_BATCH_UP_BYTES, &mut buf);
                    }
                    BatchUp::Done { outcome: Ok(Produced::Temp(tmp)), .. } => {
                        let _ = std::fs::remove_file(tmp);
                    }
                    BatchUp::Done { outcome: Err(_), .. } => {}
                    BatchUp::Stats(_) => break,
                    BatchUp::Ready(_) | BatchUp::NeedModel => continue,
                }
                send_json(&self.process(rank), TAG_BATCH_DOWN, &BatchDown::Finish);
            }
        }
        Ok(Vec::new())
    }
}
