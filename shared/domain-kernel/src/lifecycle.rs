//! The one refusal of a command given to an aggregate in the wrong status of its lifecycle, worded alike
//! by every domain.

use crate::Rejection;

/// A status of an aggregate's lifecycle, spelled in refusals as the contract spells it.
pub trait LifecycleStatus: Copy + PartialEq {
    /// The status as the contract names it (such as `SUBMITTED`).
    fn name(self) -> &'static str;
}

/// Refuses a command unless `current` is one of `allowed`: a precondition on `status` that says what the
/// status must be to do `action` and what the `aggregate` (such as "award") is.
pub fn require_status<S: LifecycleStatus>(
    aggregate: &str,
    current: S,
    allowed: &[S],
    action: &str,
) -> Result<(), Rejection> {
    if allowed.contains(&current) {
        return Ok(());
    }
    let names: Vec<_> = allowed.iter().map(|s| s.name()).collect();
    Err(Rejection::precondition(
        "status",
        format!("must be {} to {action}, the {aggregate} is {}", names.join(" or "), current.name()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Light {
        Green,
        Amber,
        Red,
    }

    impl LifecycleStatus for Light {
        fn name(self) -> &'static str {
            match self {
                Light::Green => "GREEN",
                Light::Amber => "AMBER",
                Light::Red => "RED",
            }
        }
    }

    #[test]
    fn an_allowed_status_passes() {
        assert_eq!(require_status("light", Light::Amber, &[Light::Green, Light::Amber], "drive on"), Ok(()));
    }

    #[test]
    fn another_status_is_a_precondition_naming_the_allowed_ones_and_the_current_one() {
        assert_eq!(
            require_status("light", Light::Red, &[Light::Green, Light::Amber], "drive on"),
            Err(Rejection::precondition("status", "must be GREEN or AMBER to drive on, the light is RED"))
        );
        assert_eq!(
            require_status("light", Light::Amber, &[Light::Green], "cross"),
            Err(Rejection::precondition("status", "must be GREEN to cross, the light is AMBER"))
        );
    }
}
