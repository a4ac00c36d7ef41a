//! The window's one message area: what went wrong, what was done, why an action was refused.
//! Newest first. Errors stay until the user dismisses them; what was done and hints fade after
//! [`FADE_AFTER`]; a hint also goes as soon as the user does something that works (it would be
//! stale). Pure: the layout draws it, `GuiApp` fills it.

use std::time::{Duration, Instant};

/// How long a success or a hint stays.
pub const FADE_AFTER: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something failed (a file, a job): stays until dismissed.
    Error,
    /// Something was done (saved, cancelled, resumed): fades.
    Done,
    /// Why an action was refused ("open an image first"): fades, and goes at the next action that
    /// works.
    Hint,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub text: String,
    pub shown: Instant,
    /// Stays while what it tells of lasts (the job a relaunch resumed): it starts fading only
    /// once [`Messages::unpin`] is called.
    pub pinned: bool,
}

#[derive(Debug, Default)]
pub struct Messages {
    /// Newest first.
    list: Vec<Message>,
}

impl Messages {
    /// Adds a message on top; the same text already shown moves to the top instead of repeating.
    pub fn push(&mut self, kind: Kind, text: String) {
        self.list.retain(|m| m.text != text);
        self.list.insert(0, Message { kind, text, shown: Instant::now(), pinned: false });
    }

    /// Adds a message that does not fade until [`Messages::unpin`].
    pub fn push_pinned(&mut self, kind: Kind, text: String) {
        self.push(kind, text);
        self.list[0].pinned = true;
    }

    /// What pinned messages told of is over: they fade from now.
    pub fn unpin(&mut self) {
        for m in self.list.iter_mut().filter(|m| m.pinned) {
            m.pinned = false;
            m.shown = Instant::now();
        }
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.list.iter().filter(|m| m.kind == Kind::Error).map(|m| m.text.as_str())
    }

    /// Removes successes and hints shown before `now - FADE_AFTER`; returns true when it did.
    pub fn fade(&mut self, now: Instant) -> bool {
        let before = self.list.len();
        self.list.retain(|m| m.kind == Kind::Error || m.pinned || now.saturating_duration_since(m.shown) < FADE_AFTER);
        self.list.len() != before
    }

    /// An action worked: the hints about what was missing are stale.
    pub fn drop_hints(&mut self) {
        self.list.retain(|m| m.kind != Kind::Hint);
    }

    pub fn dismiss(&mut self, index: usize) {
        if index < self.list.len() {
            self.list.remove(index);
        }
    }

    pub fn dismiss_all(&mut self) {
        self.list.clear();
    }

    /// When the next message fades (for a repaint then), if one will.
    pub fn next_fade(&self) -> Option<Instant> {
        self.list.iter().filter(|m| m.kind != Kind::Error && !m.pinned).map(|m| m.shown + FADE_AFTER).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_errors_stay_successes_and_hints_fade() {
        let mut m = Messages::default();
        m.push(Kind::Error, "a.png: cannot read".into());
        m.push(Kind::Done, "Saved b.png".into());
        m.push(Kind::Hint, "open an image first".into());
        let texts: Vec<&str> = m.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["open an image first", "Saved b.png", "a.png: cannot read"]);
        assert!(!m.fade(Instant::now()));
        assert!(m.fade(Instant::now() + FADE_AFTER + Duration::from_secs(1)));
        assert_eq!(m.errors().collect::<Vec<_>>(), ["a.png: cannot read"]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_repeated_message_moves_to_the_top_instead_of_piling_up() {
        let mut m = Messages::default();
        m.push(Kind::Hint, "x".into());
        m.push(Kind::Done, "y".into());
        m.push(Kind::Hint, "x".into());
        assert_eq!(m.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn hints_go_at_the_next_action_that_works_errors_do_not() {
        let mut m = Messages::default();
        m.push(Kind::Error, "e".into());
        m.push(Kind::Hint, "h".into());
        m.drop_hints();
        assert_eq!(m.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["e"]);
        m.dismiss_all();
        assert!(m.is_empty());
    }

    #[test]
    fn a_pinned_notice_stays_until_unpinned_then_fades() {
        let mut m = Messages::default();
        m.push_pinned(Kind::Done, "resuming".into());
        let later = Instant::now() + FADE_AFTER * 3;
        assert!(!m.fade(later), "still pinned");
        assert_eq!(m.next_fade(), None);
        m.unpin();
        assert!(!m.fade(Instant::now()), "fades from the unpin, not from when it was shown");
        assert!(m.fade(later));
        assert!(m.is_empty());
    }
}
