//! Who acts: the platform's roles and the authenticated caller, as values the domains decide on.

/// The roles of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Partner,
    ProgramOfficer,
    Reviewer,
    FinanceOfficer,
    Auditor,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Partner, Role::ProgramOfficer, Role::Reviewer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];

    /// The role's name in tokens and in event metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Partner => "partner",
            Role::ProgramOfficer => "program_officer",
            Role::Reviewer => "reviewer",
            Role::FinanceOfficer => "finance_officer",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// Program staff and auditors: everyone who is not acting for a partner organisation.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Partner)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The token's `sub`.
    pub subject: String,
    pub role: Role,
    /// The token's `org`: required for partners (a UUID), optional for staff.
    pub organisation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_from_its_name_and_only_partners_are_not_staff() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(role.to_string(), role.as_str());
            assert_eq!(role.is_staff(), role != Role::Partner);
        }
        assert_eq!(Role::parse("Partner"), None);
        assert_eq!(Role::parse(""), None);
    }
}
