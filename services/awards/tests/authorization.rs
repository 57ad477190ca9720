//! Every RPC of the service (enumerated from the compiled descriptor) against every role: allowed exactly
//! as the table below says, over the wire; denied by default.

mod common;

use std::collections::HashMap;

use common::start_awards;
use contracts::awards::v1::SERVICE_NAME;
use domain_kernel::Role;
use test_support::authorization::{
    assert_enforced, assert_forged_token_refused, assert_not_yet_valid_token_refused, assert_table_covers, call,
    service_methods,
};
use test_support::{authed, token};
use tonic::Code;

/// The expected rules, written independently of `awards::access::table()`.
fn expected(method: &str) -> &'static [Role] {
    use Role::*;
    match method {
        "SetAgreement" | "SignAgreement" | "ReallocateBudget" | "ApproveVariation" | "DeclineVariation"
        | "SuspendAward" | "ResumeAward" | "TerminateAward" | "CloseAward" => &[ProgramOfficer],
        "ReleaseTranche" => &[FinanceOfficer],
        "EraseAwardText" => &[ProgramOfficer, Administrator],
        "RequestVariation" => &[ProgramOfficer, Partner],
        "GetAward" | "ListAwards" => &[Partner, ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        _ => &[],
    }
}

#[test]
fn the_table_covers_exactly_the_services_rpcs() {
    let table = awards::access::table();
    assert_table_covers(&table, SERVICE_NAME, 14, expected);
    assert!(!table.is_allowed("NoSuchRpc", Role::Administrator));
}

#[tokio::test]
async fn every_rpc_and_role_is_enforced_over_the_wire() {
    let server = start_awards(tempfile::tempdir().unwrap(), None, HashMap::new()).await;
    let channel = server.channel().await;
    for method in service_methods(SERVICE_NAME) {
        assert_enforced(&channel, SERVICE_NAME, &method, expected(&method)).await;
        assert_forged_token_refused(&channel, SERVICE_NAME, &method).await;
        assert_not_yet_valid_token_refused(&channel, SERVICE_NAME, &method).await;
    }
    // The awards log is served read-only for auditors (the bus's gap filling reads it with such a token).
    let head = "/grants.eventlog.v1.EventLogService/GetHead";
    assert_eq!(call(&channel, head, authed((), &token(Role::Auditor, "a", None))).await, Code::Ok);
    let org = uuid::Uuid::new_v4().to_string();
    let partner = token(Role::Partner, "p", Some(&org));
    assert_eq!(call(&channel, head, authed((), &partner)).await, Code::PermissionDenied);
    let code = call(&channel, "/grpc.health.v1.Health/Check", tonic::Request::new(())).await;
    assert_eq!(code, Code::Ok);
    server.stop().await;
}
