//! Given/when/then for the services' pure deciders: given the events of a stream (or a state), when a
//! command is decided, then exactly these events, or a rejection. A new rule's test reads
//! `given(events).when(|state| handle(state, command)).then_reject()` and needs no IO.

use std::fmt::Debug;

use service_runtime::Aggregate;

/// The state `events` fold into, with the aggregate's own `apply`.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A>
where
    A::Event: Debug,
{
    let events: Vec<_> = events.into_iter().collect();
    Given { state: fold(A::default(), &events) }
}

/// Starts from a state built otherwise (a state the log cannot hold, to show a rule still refuses).
pub fn given_state<A: Aggregate>(state: A) -> Given<A> {
    Given { state }
}

/// Folds `events` into `state`; an event that does not fold fails the test, naming the value.
pub fn fold<A: Aggregate>(state: A, events: &[A::Event]) -> A
where
    A::Event: Debug,
{
    events.iter().fold(state, |state, event| {
        state.apply(event).unwrap_or_else(|e| panic!("the event does not fold ({e}): {event:?}"))
    })
}

/// The state a command is decided against.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Decides a command against the state; `R` is the decider's rejection.
    pub fn when<R>(self, decide: impl FnOnce(&A) -> Result<Vec<A::Event>, R>) -> Then<A, R> {
        let decided = decide(&self.state);
        Then { state: self.state, decided }
    }
}

/// What a command decided, to be asserted.
#[derive(Debug)]
#[must_use = "assert what was decided with a `then_` method"]
pub struct Then<A: Aggregate, R> {
    state: A,
    decided: Result<Vec<A::Event>, R>,
}

impl<A, R> Then<A, R>
where
    A: Aggregate,
    A::Event: Debug + PartialEq,
    R: Debug,
{
    /// Asserts that exactly `expected` was decided (none: an idempotent repeat); returns the state after them.
    pub fn then_expect(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<_> = expected.into_iter().collect();
        let events = self.decided.unwrap_or_else(|r| panic!("expected {expected:?}, the command was rejected: {r:?}"));
        assert_eq!(events, expected, "decided events");
        fold(self.state, &events)
    }

    /// Asserts that the command was accepted with at least one event; returns the state after them, and them.
    pub fn then_accept(self) -> (A, Vec<A::Event>) {
        let events = self.decided.unwrap_or_else(|r| panic!("the command was rejected: {r:?}"));
        assert!(!events.is_empty(), "an accepted command decides at least one event");
        (fold(self.state, &events), events)
    }

    /// Asserts that the command was rejected (so decided no event: nothing is written); returns the rejection.
    pub fn then_reject(self) -> R {
        match self.decided {
            Ok(events) => panic!("expected a rejection, the command decided {events:?}"),
            Err(rejection) => rejection,
        }
    }
}
