//! A mark's status in the registry and its transitions: a typed state with one transition
//! function, so that a status name nobody knows can never be read as "valid" (`spec/api.md`
//! 6.10, `spec/storage.md` 3.2).

use serde::{Deserialize, Serialize};

/// The status of an issued mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkStatus {
    /// Issued and in force (status list value 0).
    Valid,
    /// Revoked by its certifier or the scheme operator; final (status list value 1, the
    /// Token Status List's INVALID).
    Revoked,
    /// Suspended while it is reviewed; may be reinstated (status list value 2).
    Suspended,
}

/// A change a certifier or the scheme operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Revoke (final).
    Revoke,
    /// Suspend.
    Suspend,
    /// Reinstate a suspended mark.
    Reinstate,
}

/// Why a change does not apply to a mark's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The mark is revoked: revocation is final.
    #[error("the mark is revoked; revocation is final")]
    AlreadyRevoked,
    /// The change does not apply to the current status (suspending a suspended mark,
    /// reinstating a valid one).
    #[error("the mark is {current}; that change does not apply")]
    NotApplicable {
        /// The mark's status.
        current: MarkStatus,
        /// The change asked for.
        change: StatusChange,
    },
}

impl MarkStatus {
    /// Every status, in status-list value order.
    pub const ALL: [Self; 3] = [Self::Valid, Self::Revoked, Self::Suspended];

    /// The name used in records and answers: `valid`, `revoked`, `suspended`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Revoked => "revoked",
            Self::Suspended => "suspended",
        }
    }

    /// The status of a name, or `None` for any other text (never a default).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The 2-bit value in the Token Status List: 0 valid, 1 revoked (INVALID), 2 suspended.
    pub fn list_value(self) -> u8 {
        match self {
            Self::Valid => 0,
            Self::Revoked => 1,
            Self::Suspended => 2,
        }
    }

    /// The status a change leads to, or why it does not apply.
    pub fn apply(self, change: StatusChange) -> Result<Self, TransitionError> {
        match (self, change) {
            (Self::Revoked, _) => Err(TransitionError::AlreadyRevoked),
            (Self::Valid | Self::Suspended, StatusChange::Revoke) => Ok(Self::Revoked),
            (Self::Valid, StatusChange::Suspend) => Ok(Self::Suspended),
            (Self::Suspended, StatusChange::Reinstate) => Ok(Self::Valid),
            (current @ (Self::Valid | Self::Suspended), change) => {
                Err(TransitionError::NotApplicable { current, change })
            }
        }
    }
}

impl core::fmt::Display for MarkStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl StatusChange {
    /// The audit action that records it: `mark.revoked`, `mark.suspended`, `mark.reinstated`.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Revoke => "mark.revoked",
            Self::Suspend => "mark.suspended",
            Self::Reinstate => "mark.reinstated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table_of_the_api_spec() {
        use MarkStatus::{Revoked, Suspended, Valid};
        use StatusChange::{Reinstate, Revoke, Suspend};
        let table = [
            (Valid, Revoke, Ok(Revoked)),
            (Valid, Suspend, Ok(Suspended)),
            (
                Valid,
                Reinstate,
                Err(TransitionError::NotApplicable {
                    current: Valid,
                    change: Reinstate,
                }),
            ),
            (Suspended, Revoke, Ok(Revoked)),
            (
                Suspended,
                Suspend,
                Err(TransitionError::NotApplicable {
                    current: Suspended,
                    change: Suspend,
                }),
            ),
            (Suspended, Reinstate, Ok(Valid)),
            (Revoked, Revoke, Err(TransitionError::AlreadyRevoked)),
            (Revoked, Suspend, Err(TransitionError::AlreadyRevoked)),
            (Revoked, Reinstate, Err(TransitionError::AlreadyRevoked)),
        ];
        for (from, change, to) in table {
            assert_eq!(from.apply(change), to, "{from} {change:?}");
        }
    }

    #[test]
    fn unknown_names_are_refused_not_read_as_valid() {
        for status in MarkStatus::ALL {
            assert_eq!(MarkStatus::from_name(status.name()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.name()));
            assert_eq!(serde_json::from_str::<MarkStatus>(&json).unwrap(), status);
        }
        for name in ["", "VALID", "expired", "valid ", "withdrawn"] {
            assert_eq!(MarkStatus::from_name(name), None, "{name:?}");
            assert!(serde_json::from_str::<MarkStatus>(&format!("\"{name}\"")).is_err());
        }
        assert_eq!(
            MarkStatus::ALL.map(MarkStatus::list_value),
            [0, 1, 2],
            "the Token Status List values"
        );
    }
}
