//! Every RPC of the service (enumerated from the compiled descriptor) against every role: allowed exactly
//! as the table below says, over the wire; denied by default.

mod common;

use contracts::applications::v1::SERVICE_NAME;
use domain_kernel::Role;
use test_support::authorization::{
    assert_enforced, assert_forged_token_refused, assert_not_yet_valid_token_refused, assert_table_covers, call,
    service_methods,
};
use tonic::Code;

/// The expected rules, written independently of `applications::access::table()`.
fn expected(method: &str) -> &'static [Role] {
    use Role::*;
    match method {
        "OpenRound" | "CloseRound" | "AssignReviewer" | "ApproveApplication" | "RejectApplication" => &[ProgramOfficer],
        "RegisterOrganisation" => &[Partner, ProgramOfficer, Administrator],
        "EraseContactPerson" => &[Administrator],
        "EraseApplicationText" => &[ProgramOfficer, Administrator],
        "DraftApplication" | "EditApplication" | "SubmitApplication" | "WithdrawApplication" => &[Partner],
        "DeclareConflictOfInterest" | "RecordReview" => &[Reviewer],
        "GetRound" | "GetOrganisation" | "GetApplication" | "ListApplications" => &Role::ALL,
        _ => &[],
    }
}

#[test]
fn the_table_covers_exactly_the_services_rpcs() {
    let table = applications::access::table();
    assert_table_covers(&table, SERVICE_NAME, 18, expected);
    assert!(!table.is_allowed("NoSuchRpc", Role::Administrator));
}

#[tokio::test]
async fn every_rpc_and_role_is_enforced_over_the_wire() {
    let server = common::start().await;
    let channel = server.channel().await;
    for method in service_methods(SERVICE_NAME) {
        assert_enforced(&channel, SERVICE_NAME, &method, expected(&method)).await;
        assert_forged_token_refused(&channel, SERVICE_NAME, &method).await;
        assert_not_yet_valid_token_refused(&channel, SERVICE_NAME, &method).await;
    }
    // Health needs no token.
    let code = call(&channel, "/grpc.health.v1.Health/Check", tonic::Request::new(())).await;
    assert_eq!(code, Code::Ok);
    server.stop().await;
}
