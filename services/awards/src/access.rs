//! Who may call which RPC of the awards service (the read-only log service beside it is governed by the
//! runtime's `log_access_table`). Deny by default: an RPC missing here is refused to every role. Object-level rules (partners only their
//! own organisation's awards) are in the domain.

use contracts::awards::v1::SERVICE_NAME;
use domain_kernel::Role;
use service_runtime::AccessTable;

const PROGRAM_OFFICER: &[Role] = &[Role::ProgramOfficer];
/// Reviewers score applications; they have no business with awards.
const READERS: &[Role] =
    &[Role::Partner, Role::ProgramOfficer, Role::FinanceOfficer, Role::Auditor, Role::Administrator];

/// The access table of `grants.awards.v1.AwardsService`.
pub fn table() -> AccessTable {
    AccessTable::new(SERVICE_NAME)
        .allow("SetAgreement", PROGRAM_OFFICER)
        .allow("SignAgreement", PROGRAM_OFFICER)
        .allow("ReleaseTranche", &[Role::FinanceOfficer])
        .allow("ReallocateBudget", PROGRAM_OFFICER)
        .allow("RequestVariation", &[Role::ProgramOfficer, Role::Partner])
        .allow("ApproveVariation", PROGRAM_OFFICER)
        .allow("DeclineVariation", PROGRAM_OFFICER)
        .allow("SuspendAward", PROGRAM_OFFICER)
        .allow("ResumeAward", PROGRAM_OFFICER)
        .allow("TerminateAward", PROGRAM_OFFICER)
        .allow("CloseAward", PROGRAM_OFFICER)
        .allow("EraseAwardText", &[Role::ProgramOfficer, Role::Administrator])
        .allow("GetAward", READERS)
        .allow("ListAwards", READERS)
}
