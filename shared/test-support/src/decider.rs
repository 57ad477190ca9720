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

#[cfg(test)]
mod tests {
    use contracts::values::WireError;
    use service_runtime::DomainEvent;
    use service_runtime::command::EventDecodeError;

    use super::*;

    /// A guest list of at most three names, each once; an arrival without a name does not fold.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Guests(Vec<String>);

    #[derive(Clone, Debug, PartialEq)]
    struct Arrived(String);

    impl DomainEvent for Arrived {
        fn event_type(&self) -> &'static str {
            "Arrived"
        }
        fn encode_payload(&self) -> Vec<u8> {
            prost::Message::encode_to_vec(&self.0)
        }
        fn decode_payload(_: &str, payload: &[u8]) -> Result<Self, EventDecodeError> {
            <String as prost::Message>::decode(payload)
                .map(Arrived)
                .map_err(|source| EventDecodeError::Undecodable { event_type: "Arrived", source })
        }
    }

    impl Aggregate for Guests {
        type Event = Arrived;
        const STREAM_TYPE: &'static str = "guests";
        fn apply(mut self, event: &Arrived) -> Result<Guests, WireError> {
            if event.0.is_empty() {
                return Err(WireError::new("name", "is required"));
            }
            self.0.push(event.0.clone());
            Ok(self)
        }
    }

    fn arrive(name: &str) -> impl FnOnce(&Guests) -> Result<Vec<Arrived>, String> {
        move |guests| match guests.0.len() {
            _ if guests.0.iter().any(|g| g == name) => Err(format!("{name} is here already")),
            3.. => Err("the list is full".into()),
            _ => Ok(vec![Arrived(name.into())]),
        }
    }

    fn guests(names: &[&str]) -> Guests {
        Guests(names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn the_expected_events_fold_into_the_next_state() {
        let ann = || Arrived("ann".into());
        assert_eq!(given([ann()]).when(arrive("bo")).then_expect([Arrived("bo".into())]), guests(&["ann", "bo"]));
        assert_eq!(given([]).when(arrive("ann")).then_accept(), (guests(&["ann"]), vec![ann()]));
        assert_eq!(given([ann()]).when(arrive("ann")).then_reject(), "ann is here already");
        assert_eq!(given_state(guests(&["a", "b", "c"])).when(arrive("d")).then_reject(), "the list is full");
    }

    #[test]
    #[should_panic(expected = "decided events")]
    fn other_events_than_expected_fail() {
        given([]).when(arrive("ann")).then_expect([Arrived("bo".into())]);
    }

    #[test]
    #[should_panic(expected = "expected a rejection")]
    fn an_accepted_command_fails_a_rejection_test() {
        given([]).when(arrive("ann")).then_reject();
    }

    #[test]
    #[should_panic(expected = "the command was rejected: \"the list is full\"")]
    fn a_rejected_command_fails_an_acceptance_test() {
        given_state(guests(&["a", "b", "c"])).when(arrive("d")).then_accept();
    }

    #[test]
    #[should_panic(expected = "the event does not fold (`name` is required)")]
    fn an_event_that_does_not_fold_fails_the_test() {
        given::<Guests>([Arrived(String::new())]);
    }
}
