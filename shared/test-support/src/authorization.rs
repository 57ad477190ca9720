//! A service's role table checked against its compiled contract, and enforced over the wire. The expected
//! rules stay in each suite, written independently of the service's table.

use domain_kernel::Role;
use prost::Message;
use service_runtime::AccessTable;
use tonic::Code;
use tonic::transport::Channel;

use crate::identity::{authed, token, token_not_yet_valid};

/// The RPC names of `service` (its full name, e.g. `grants.awards.v1.AwardsService`) in the compiled
/// contract, in the order the contract declares them.
pub fn service_methods(service: &str) -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(contracts::FILE_DESCRIPTOR_SET).unwrap();
    let (package, name) = service.rsplit_once('.').unwrap();
    let file = set.file.iter().find(|f| f.package() == package && f.service.iter().any(|s| s.name() == name)).unwrap();
    let service = file.service.iter().find(|s| s.name() == name).unwrap();
    service.method.iter().map(|m| m.name().to_owned()).collect()
}

/// Asserts that `table` has rules for exactly the `rpcs` RPCs the contract declares for `service`, and that
/// it allows each of them to exactly the roles `expected` names.
pub fn assert_table_covers(table: &AccessTable, service: &str, rpcs: usize, expected: fn(&str) -> &'static [Role]) {
    let mut from_descriptor = service_methods(service);
    from_descriptor.sort();
    let from_table: Vec<String> = table.methods().map(str::to_owned).collect();
    assert_eq!(from_table, from_descriptor);
    assert_eq!(from_descriptor.len(), rpcs);
    for method in &from_descriptor {
        for role in Role::ALL {
            assert_eq!(table.is_allowed(method, role), expected(method).contains(&role), "{method} for {role}");
        }
    }
}

/// Calls `path` with an empty message (which decodes as any request with every field at its default) and
/// returns the status code.
pub async fn call(channel: &Channel, path: &str, request: tonic::Request<()>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let result = grpc.unary(request, path.parse().unwrap(), codec).await;
    result.err().map_or(Code::Ok, |s| s.code())
}

/// Asserts over the wire that `method` of `service` lets the `allowed` roles through (whatever the handler
/// then answers, it is not a refusal of the caller), refuses every other role, and refuses a call without
/// a token.
pub async fn assert_enforced(channel: &Channel, service: &str, method: &str, allowed: &[Role]) {
    let path = format!("/{service}/{method}");
    let organisation = uuid::Uuid::new_v4().to_string();
    for role in Role::ALL {
        // A partner's token is valid only with an organisation.
        let organisation = (role == Role::Partner).then_some(organisation.as_str());
        let code = call(channel, &path, authed((), &token(role, "someone", organisation))).await;
        if allowed.contains(&role) {
            assert!(
                !matches!(code, Code::PermissionDenied | Code::Unauthenticated | Code::Unimplemented),
                "{method} for {role}: {code:?}"
            );
        } else {
            assert_eq!(code, Code::PermissionDenied, "{method} for {role}");
        }
    }
    assert_eq!(call(channel, &path, tonic::Request::new(())).await, Code::Unauthenticated, "{method} without a token");
}

/// Asserts over the wire that `method` of `service` refuses an unsigned token (`alg: none`) as
/// unauthenticated.
pub async fn assert_forged_token_refused(channel: &Channel, service: &str, method: &str) {
    let path = format!("/{service}/{method}");
    let forged = authed((), "eyJhbGciOiJub25lIn0.e30.");
    assert_eq!(call(channel, &path, forged).await, Code::Unauthenticated, "{method} with a forged token");
}

/// Asserts over the wire that `method` of `service` refuses a token that is not valid yet (`nbf` an hour
/// ahead) as unauthenticated. The token is refused before any role is looked at, so one role serves for
/// every method: a program officer's, which needs no organisation.
pub async fn assert_not_yet_valid_token_refused(channel: &Channel, service: &str, method: &str) {
    let path = format!("/{service}/{method}");
    let early = authed((), &token_not_yet_valid(Role::ProgramOfficer, "someone", None));
    assert_eq!(call(channel, &path, early).await, Code::Unauthenticated, "{method} with a token not valid yet");
}
