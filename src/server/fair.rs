//! Whose job runs next: users take turns (round robin over the users with work, each user's
//! own jobs oldest first), and a running job yields at its next image when another user is
//! waiting. Pure: the dispatcher feeds it the runnable jobs from the store.
//!
//! With a turn per user rather than per job, a user who queues a thousand jobs gets the same
//! share as one who queues one; with the yield at image granularity, a one-image job waits for
//! the images already on the ranks, not for the end of someone's batch.

/// A job that still has work, as the picker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub id: String,
    pub user: String,
}

/// The round robin's memory: the users in the order they last had a turn.
#[derive(Debug, Default)]
pub struct Turns {
    /// Least recently served first.
    order: Vec<String>,
}

impl Turns {
    /// The next job to run from `waiting` (oldest first): the oldest job of the user who has
    /// waited longest since their last turn (a user never served counts as longest).
    pub fn pick<'a>(&mut self, waiting: &'a [Waiting]) -> Option<&'a Waiting> {
        let served_at = |user: &str| self.order.iter().position(|u| u == user);
        let next = waiting.iter().min_by_key(|w| served_at(&w.user).map_or(-1, |p| p as i64))?;
        self.order.retain(|u| u != &next.user);
        self.order.push(next.user.clone());
        Some(next)
    }

    /// Whether the job of `running_user` should yield: another user has work waiting.
    pub fn should_yield(running_user: &str, waiting: &[Waiting]) -> bool {
        waiting.iter().any(|w| w.user != running_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str, user: &str) -> Waiting {
        Waiting { id: id.into(), user: user.into() }
    }

    #[test]
    fn users_take_turns_whatever_order_their_jobs_came_in() {
        let mut turns = Turns::default();
        let mut queue = vec![w("a1", "a"), w("a2", "a"), w("a3", "a"), w("b1", "b"), w("c1", "c")];
        let mut ran = Vec::new();
        while let Some(next) = turns.pick(&queue).cloned() {
            queue.retain(|j| j != &next);
            ran.push(next.id);
        }
        assert_eq!(ran, vec!["a1", "b1", "c1", "a2", "a3"]);
    }

    #[test]
    fn a_newcomer_goes_before_a_user_just_served() {
        let mut turns = Turns::default();
        let a = [w("a1", "a")];
        assert_eq!(turns.pick(&a).unwrap().id, "a1");
        // a1 yielded: it is waiting again, and b has just arrived.
        let both = [w("a1", "a"), w("b1", "b")];
        assert_eq!(turns.pick(&both).unwrap().id, "b1");
        assert_eq!(turns.pick(&both).unwrap().id, "a1");
    }

    #[test]
    fn a_job_yields_only_to_another_user() {
        assert!(!Turns::should_yield("a", &[w("a2", "a")]));
        assert!(Turns::should_yield("a", &[w("a2", "a"), w("b1", "b")]));
        assert!(!Turns::should_yield("a", &[]));
    }
}
