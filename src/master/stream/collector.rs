//! The workers' pieces of a streamed image job, taken in row order and written to the output
//! file part by part whenever rank 0 waits for anything (the relay polls it).

use super::super::relay::WhileWaiting;
use super::super::Master;
use crate::model::{unix_now, Failure, Progress, RankStats};
use crate::pieces::{Assembler, PieceMeta};
use crate::protocol::*;
use crate::split::Strip;

/// What rank 0 knows of the job while it waits: which worker's piece comes next (row order),
/// and the file those pieces go to. Polled whenever rank 0 waits for anything.
pub(super) struct Collector {
    /// Indexed by rank.
    strips: Vec<Strip>,
    /// Workers in row order, and how many of them answered.
    order: Vec<usize>,
    next: usize,
    /// The worker whose piece's parts are arriving, and how many are still due.
    receiving: Option<(usize, usize)>,
    file: Assembler,
    pub(super) write_secs: f64,
    pub(super) write_span: Option<(f64, f64)>,
    /// The workers' failures, in the order they answered.
    pub(super) failures: Vec<(usize, Failure)>,
    /// The workers' statistics, in the order they answered.
    pub(super) stats: Vec<RankStats>,
    /// The first error writing the file; later parts are still received, and dropped.
    pub(super) error: Option<anyhow::Error>,
}

impl Collector {
    /// Collects the pieces of the workers `order` (row order) into `file`.
    pub(super) fn new(strips: Vec<Strip>, order: Vec<usize>, file: Assembler) -> Collector {
        Collector {
            strips,
            order,
            next: 0,
            receiving: None,
            file,
            write_secs: 0.0,
            write_span: None,
            failures: Vec::new(),
            stats: Vec::new(),
            error: None,
        }
    }

    /// Every worker answered and all their parts are written (or dropped after an error).
    pub(super) fn done(&self) -> bool {
        self.next == self.order.len() && self.receiving.is_none()
    }

    /// The file, to add rank 0's own piece and finish it.
    pub(super) fn into_file(self) -> Assembler {
        self.file
    }
}

impl WhileWaiting for Collector {
    /// Takes every worker answer and part of a piece that has arrived, in row order, and writes
    /// the parts (one at a time: rank 0 never holds a worker's whole piece).
    fn poll(&mut self, master: &Master, on: &mut dyn FnMut(Progress)) {
        loop {
            if let Some((rank, left)) = self.receiving {
                if left == 0 {
                    self.receiving = None;
                    self.next += 1;
                    continue;
                }
                let Ok(Some((head, _))) = try_receive_json::<PieceHead>(master.world(), Some(rank as i32), TAG_PIECE)
                else {
                    return;
                };
                let mut bytes = vec![0u8; head.len];
                receive_bytes(&master.process(rank), TAG_RESULT_ROWS, &mut bytes);
                self.write(&head.meta, &bytes);
                self.receiving = Some((rank, left - 1));
                continue;
            }
            let Some(&rank) = self.order.get(self.next) else { return };
            let Ok(Some((result, _))) = try_receive_json::<StripResult>(master.world(), Some(rank as i32), TAG_RESULT)
            else {
                return;
            };
            let error = match result.outcome {
                Ok(()) if result.parts == 0 && !self.strips[rank].owned.is_empty() => {
                    Some(Failure::Failed(format!("rank {rank} sent no piece for its rows")))
                }
                Ok(()) => None,
                Err(f) => Some(f),
            };
            on(Progress::RowsDone {
                rank,
                secs: result.stats.compute_secs,
                error: error.as_ref().map(|f| f.to_string()),
            });
            if let Some(f) = error {
                self.failures.push((rank, f));
            }
            self.stats.push(result.stats);
            self.receiving = Some((rank, result.parts));
        }
    }
}

impl Collector {
    /// Appends a part to the file, unless writing already failed (the parts are still received).
    fn write(&mut self, meta: &PieceMeta, bytes: &[u8]) {
        let started = unix_now();
        if self.error.is_none() {
            if let Err(e) = self.file.add(meta, bytes) {
                self.error = Some(e);
            }
        }
        let end = unix_now();
        self.write_secs += end - started;
        self.write_span = Some((self.write_span.map_or(started, |s| s.0), end));
    }
}
