//! Every RPC of the service (enumerated from the compiled descriptor) against every role: allowed exactly
//! as the table below says, over the wire; denied by default.

mod common;

use std::collections::HashMap;

use common::{start_awards, token};
use contracts::awards::v1::SERVICE_NAME;
use prost::Message;
use service_runtime::Role;
use tonic::Code;

/// The expected rules, written independently of `awards::access::table()`.
fn expected(method: &str) -> &'static [Role] {
    use Role::*;
    match method {
        "SetAgreement" | "SignAgreement" | "ReallocateBudget" | "ApproveVariation" | "DeclineVariation"
        | "SuspendAward" | "ResumeAward" | "TerminateAward" | "CloseAward" => &[ProgramOfficer],
        "ReleaseTranche" => &[FinanceOfficer],
        "RequestVariation" => &[ProgramOfficer, Partner],
        "GetAward" | "ListAwards" => &[Partner, ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        _ => &[],
    }
}

fn service_methods() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(contracts::FILE_DESCRIPTOR_SET).unwrap();
    let (package, name) = SERVICE_NAME.rsplit_once('.').unwrap();
    let file = set.file.iter().find(|f| f.package() == package && f.service.iter().any(|s| s.name() == name)).unwrap();
    let service = file.service.iter().find(|s| s.name() == name).unwrap();
    service.method.iter().map(|m| m.name().to_owned()).collect()
}

#[test]
fn the_table_covers_exactly_the_services_rpcs() {
    let table = awards::access::table();
    let mut from_descriptor = service_methods();
    from_descriptor.sort();
    let from_table: Vec<String> = table.methods().map(str::to_owned).collect();
    assert_eq!(from_table, from_descriptor);
    assert_eq!(from_descriptor.len(), 13);
    for method in &from_descriptor {
        for role in Role::ALL {
            assert_eq!(table.is_allowed(method, role), expected(method).contains(&role), "{method} for {role}");
        }
    }
    assert!(!table.is_allowed("NoSuchRpc", Role::Administrator));
}

/// Calls `path` with an empty message (which decodes as any request with every field at its default).
async fn call(channel: &tonic::transport::Channel, path: &str, request: tonic::Request<()>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let result = grpc.unary(request, path.parse().unwrap(), codec).await;
    result.err().map_or(Code::Ok, |s| s.code())
}

#[tokio::test]
async fn every_rpc_and_role_is_enforced_over_the_wire() {
    let server = start_awards(tempfile::tempdir().unwrap(), None, HashMap::new()).await;
    let channel = server.channel().await;
    let org = uuid::Uuid::new_v4().to_string();
    for method in service_methods() {
        let path = format!("/{SERVICE_NAME}/{method}");
        for role in Role::ALL {
            let organisation = (role == Role::Partner).then_some(org.as_str());
            let code = call(&channel, &path, common::authed((), &token(role, "someone", organisation))).await;
            if expected(&method).contains(&role) {
                assert!(
                    !matches!(code, Code::PermissionDenied | Code::Unauthenticated | Code::Unimplemented),
                    "{method} for {role}: {code:?}"
                );
            } else {
                assert_eq!(code, Code::PermissionDenied, "{method} for {role}");
            }
        }
        assert_eq!(
            call(&channel, &path, tonic::Request::new(())).await,
            Code::Unauthenticated,
            "{method} without a token"
        );
        let forged = common::authed((), "eyJhbGciOiJub25lIn0.e30.");
        assert_eq!(call(&channel, &path, forged).await, Code::Unauthenticated, "{method} with a forged token");
    }
    // The awards log is served read-only for auditors (the bus's gap filling reads it with such a token).
    let head = "/grants.eventlog.v1.EventLogService/GetHead";
    assert_eq!(call(&channel, head, common::authed((), &token(Role::Auditor, "a", None))).await, Code::Ok);
    let partner = token(Role::Partner, "p", Some(&org));
    assert_eq!(call(&channel, head, common::authed((), &partner)).await, Code::PermissionDenied);
    let code = call(&channel, "/grpc.health.v1.Health/Check", tonic::Request::new(())).await;
    assert_eq!(code, Code::Ok);
    server.stop().await;
}
