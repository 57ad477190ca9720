//! Who may call which RPC of the applications service. Deny by default: an RPC missing here is refused
//! to every role. Object-level rules (partners only their own organisation's) are in the domain.

use contracts::applications::v1::SERVICE_NAME;
use domain_kernel::Role;
use service_runtime::AccessTable;

const ALL: &[Role] = &Role::ALL;
const PROGRAM_OFFICER: &[Role] = &[Role::ProgramOfficer];
const PARTNER: &[Role] = &[Role::Partner];
const REVIEWER: &[Role] = &[Role::Reviewer];

/// The access table of `grants.applications.v1.ApplicationsService`.
pub fn table() -> AccessTable {
    AccessTable::new(SERVICE_NAME)
        .allow("OpenRound", PROGRAM_OFFICER)
        .allow("CloseRound", PROGRAM_OFFICER)
        .allow("GetRound", ALL)
        .allow("RegisterOrganisation", &[Role::Partner, Role::ProgramOfficer, Role::Administrator])
        .allow("GetOrganisation", ALL)
        .allow("EraseContactPerson", &[Role::Administrator])
        .allow("DraftApplication", PARTNER)
        .allow("EditApplication", PARTNER)
        .allow("SubmitApplication", PARTNER)
        .allow("WithdrawApplication", PARTNER)
        .allow("AssignReviewer", PROGRAM_OFFICER)
        .allow("DeclareConflictOfInterest", REVIEWER)
        .allow("RecordReview", REVIEWER)
        .allow("ApproveApplication", PROGRAM_OFFICER)
        .allow("RejectApplication", PROGRAM_OFFICER)
        .allow("EraseApplicationText", &[Role::ProgramOfficer, Role::Administrator])
        .allow("GetApplication", ALL)
        .allow("ListApplications", ALL)
}
