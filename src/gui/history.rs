//! Undo and redo of op chain edits (Ctrl+Z, Ctrl+Shift+Z). An edit is anything that changes the
//! chain: adding, removing, moving an op, a parameter, loading a preset. One drag of a number
//! field is one edit, however many frames it changes the value in. Pure; not persisted.

use crate::ops::Op;

/// How many edits can be undone.
const DEPTH: usize = 100;

#[derive(Debug, Default)]
pub struct ChainHistory {
    undo: Vec<Vec<Op>>,
    redo: Vec<Vec<Op>>,
    /// The edit under way continues (a drag not yet released): later changes join it.
    open: bool,
}

impl ChainHistory {
    /// The chain was `before` and has changed. `continuing` says the same gesture is still under
    /// way (the pointer is held down on a field): changes while it stays true are one edit.
    pub fn record(&mut self, before: Vec<Op>, continuing: bool) {
        if !(self.open && continuing) {
            self.undo.push(before);
            if self.undo.len() > DEPTH {
                self.undo.remove(0);
            }
        }
        self.redo.clear();
        self.open = continuing;
    }

    /// The gesture ended (the pointer was released): the next change is a new edit.
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Replaces `chain` with the one before the last edit; false when there is none.
    pub fn undo(&mut self, chain: &mut Vec<Op>) -> bool {
        self.open = false;
        match self.undo.pop() {
            Some(before) => {
                self.redo.push(std::mem::replace(chain, before));
                true
            }
            None => false,
        }
    }

    /// Re-applies the last undone edit; false when there is none.
    pub fn redo(&mut self, chain: &mut Vec<Op>) -> bool {
        self.open = false;
        match self.redo.pop() {
            Some(after) => {
                self.undo.push(std::mem::replace(chain, after));
                true
            }
            None => false,
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blur(k: i64) -> Vec<Op> {
        let mut op = Op::default_for("blur").unwrap();
        op.set("ksize", crate::ops::ParamValue::Int(k)).unwrap();
        vec![op]
    }

    #[test]
    fn undo_and_redo_walk_the_edits_and_a_new_edit_drops_the_redo() {
        let mut h = ChainHistory::default();
        let mut chain = blur(3);
        h.record(chain.clone(), false);
        chain = blur(5);
        h.record(chain.clone(), false);
        chain = blur(7);
        assert!(h.undo(&mut chain) && chain == blur(5));
        assert!(h.undo(&mut chain) && chain == blur(3));
        assert!(!h.undo(&mut chain) && chain == blur(3));
        assert!(h.redo(&mut chain) && chain == blur(5));
        h.record(chain.clone(), false);
        chain = blur(9);
        assert!(!h.can_redo());
        assert!(h.undo(&mut chain) && chain == blur(5));
    }

    #[test]
    fn one_drag_is_one_edit() {
        let mut h = ChainHistory::default();
        let mut chain = blur(3);
        for k in [5, 7, 9] {
            h.record(chain.clone(), true);
            chain = blur(k);
        }
        h.close();
        assert!(h.undo(&mut chain) && chain == blur(3));
        assert!(!h.can_undo());
    }
}
