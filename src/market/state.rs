//! The deal lifecycle: proposed -> accepted -> transferring -> active -> expired, with
//! failed and cancelled reachable from every state that is not final. Each transition is
//! checked; an impossible one is an error, never a silent change.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealState {
    Proposed,
    Accepted,
    Transferring,
    Active,
    Expired,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealEvent {
    Accept,
    StartTransfer,
    /// The provider recomputed the piece and it matched: it signs activation.
    Activate,
    Expire,
    Fail,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a deal in state {from:?} cannot take {event:?}")]
pub struct InvalidTransition {
    pub from: DealState,
    pub event: DealEvent,
}

impl DealState {
    pub const ALL: [DealState; 7] = [
        DealState::Proposed,
        DealState::Accepted,
        DealState::Transferring,
        DealState::Active,
        DealState::Expired,
        DealState::Failed,
        DealState::Cancelled,
    ];

    /// The state's name, as its JSON form and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DealState::Proposed => "proposed",
            DealState::Accepted => "accepted",
            DealState::Transferring => "transferring",
            DealState::Active => "active",
            DealState::Expired => "expired",
            DealState::Failed => "failed",
            DealState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            DealState::Expired | DealState::Failed | DealState::Cancelled
        )
    }

    /// Whether the deal holds capacity on the provider.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            DealState::Accepted | DealState::Transferring | DealState::Active
        )
    }

    pub fn apply(self, event: DealEvent) -> Result<DealState, InvalidTransition> {
        use DealEvent::*;
        use DealState::*;
        let next = match (self, event) {
            (Proposed, Accept) => Accepted,
            (Accepted, StartTransfer) => Transferring,
            (Transferring, Activate) => Active,
            (Active, Expire) => Expired,
            (from, Fail | Cancel) if !from.is_final() => {
                if event == Fail {
                    Failed
                } else {
                    Cancelled
                }
            }
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::DealEvent::*;
    use super::DealState::*;

    #[test]
    fn names_are_the_serde_names() {
        for state in super::DealState::ALL {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str(), "{state:?}");
        }
    }

    #[test]
    fn the_happy_path_and_every_final_state_is_final() {
        let path = [Accept, StartTransfer, Activate, Expire];
        let end = path.iter().try_fold(Proposed, |s, e| s.apply(*e)).unwrap();
        assert_eq!(end, Expired);
        for state in [Expired, Failed, Cancelled] {
            for event in [Accept, StartTransfer, Activate, Expire, Fail, Cancel] {
                assert!(state.apply(event).is_err(), "{state:?} took {event:?}");
            }
        }
    }

    #[test]
    fn skipping_a_step_is_refused_and_failure_is_always_possible() {
        assert!(Proposed.apply(Activate).is_err());
        assert!(Accepted.apply(Activate).is_err());
        assert!(Proposed.apply(Expire).is_err());
        for state in [Proposed, Accepted, Transferring, Active] {
            assert_eq!(state.apply(Fail).unwrap(), Failed);
            assert_eq!(state.apply(Cancel).unwrap(), Cancelled);
            assert_eq!(state.holds_capacity(), state != Proposed);
        }
    }
}
