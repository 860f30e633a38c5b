//! Flap damping (DESIGN.md §3): an endpoint whose checks change their mind
//! more than `max_changes` times within `window` is held down until the
//! checks have been stable for `hold`. A flapping endpoint moves traffic
//! back and forth with every change; holding it down keeps traffic on the
//! endpoints that are not flapping.

use std::collections::VecDeque;

use super::Damping;
use crate::decide::Millis;

/// The recent changes of one endpoint's check verdict, and the hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Flaps {
    /// Times of the changes within the window, oldest first (not kept while
    /// held: the hold only needs the last one).
    changes: VecDeque<Millis>,
    held_until: Option<Millis>,
}

impl Flaps {
    /// Until when the endpoint is held down, if it is.
    pub(super) fn held_until(&self) -> Option<Millis> {
        self.held_until
    }

    /// Ends the hold once the checks have been stable for the hold time.
    /// The history goes with it: a released endpoint starts afresh.
    pub(super) fn release_if_due(&mut self, now: Millis) {
        if self.held_until.is_some_and(|until| now >= until) {
            self.held_until = None;
            self.changes.clear();
        }
    }

    /// Records a change of the check verdict at `at`.
    pub(super) fn record(&mut self, at: Millis, damping: &Damping) {
        while self
            .changes
            .front()
            .is_some_and(|&t| at.saturating_sub(t) >= damping.window)
        {
            self.changes.pop_front();
        }
        // held | changes within the window, this one included | then
        // -----+---------------------------------------------+----------------------
        // no   | ≤ max_changes                               | not held
        // no   | > max_changes                               | held until at + hold
        // yes  | -                                           | held until at + hold
        //      |                                             | (stability restarts)
        let until = at.saturating_add(damping.hold);
        if self.held_until.is_some() {
            self.held_until = Some(until);
            return;
        }
        self.changes.push_back(at);
        if self.changes.len() > damping.max_changes as usize {
            self.held_until = Some(until);
            self.changes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAMPING: Damping = Damping {
        max_changes: 3,
        window: 1000,
        hold: 5000,
    };

    fn flaps(times: &[Millis]) -> Flaps {
        let mut f = Flaps::default();
        for &t in times {
            f.release_if_due(t);
            f.record(t, &DAMPING);
        }
        f
    }

    #[test]
    fn max_changes_within_the_window_are_allowed() {
        assert_eq!(flaps(&[0, 100, 200]).held_until(), None);
    }

    #[test]
    fn one_more_change_within_the_window_holds() {
        assert_eq!(flaps(&[0, 100, 200, 300]).held_until(), Some(5300));
    }

    #[test]
    fn changes_older_than_the_window_do_not_count() {
        // The change at 0 is exactly one window before the one at 1000.
        assert_eq!(flaps(&[0, 100, 200, 1000]).held_until(), None);
        assert_eq!(flaps(&[0, 100, 200, 1000, 1099]).held_until(), Some(6099));
    }

    #[test]
    fn a_change_while_held_restarts_the_hold() {
        assert_eq!(flaps(&[0, 100, 200, 300, 4000]).held_until(), Some(9000));
    }

    #[test]
    fn release_waits_for_the_hold_and_forgets_the_history() {
        let mut f = flaps(&[0, 100, 200, 300]);
        f.release_if_due(5299);
        assert_eq!(f.held_until(), Some(5300));
        f.release_if_due(5300);
        assert_eq!(f.held_until(), None);
        f.record(5400, &DAMPING);
        f.record(5500, &DAMPING);
        f.record(5600, &DAMPING);
        assert_eq!(f.held_until(), None);
    }
}
