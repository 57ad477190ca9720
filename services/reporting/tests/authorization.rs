//! Every RPC of the service (enumerated from the compiled descriptor) against every role: allowed exactly
//! as the table below says, over the wire; denied by default. The service runs without a bus.

use std::collections::HashMap;
use std::time::Duration;

use contracts::reporting::v1::SERVICE_NAME;
use prost::Message;
use service_runtime::{JwtConfig, Role, ServerConfig, TokenIssuer};
use tokio_util::sync::CancellationToken;
use tonic::Code;

fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"test-secret-test-secret-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

fn token(role: Role, subject: &str, organisation: Option<&str>) -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(role, subject, organisation, Duration::from_secs(600)).unwrap()
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The expected rules, written independently of `reporting::access::table()`.
fn expected(method: &str) -> &'static [Role] {
    use Role::*;
    match method {
        "SubmitReport" => &[Partner],
        "RequestRevision" | "AcceptReport" => &[ProgramOfficer],
        "GetObligations" | "GetReport" => &[Partner, ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        "ListReportsAwaitingReview" => &[ProgramOfficer, FinanceOfficer, Auditor, Administrator],
        "GetIndicatorCatalogue" => &Role::ALL,
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
    let table = reporting::access::table();
    let mut from_descriptor = service_methods();
    from_descriptor.sort();
    let from_table: Vec<String> = table.methods().map(str::to_owned).collect();
    assert_eq!(from_table, from_descriptor);
    assert_eq!(from_descriptor.len(), 7);
    for method in &from_descriptor {
        for role in Role::ALL {
            assert_eq!(table.is_allowed(method, role), expected(method).contains(&role), "{method} for {role}");
        }
    }
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
async fn every_rpc_and_role_is_enforced_over_the_wire_and_the_catalogue_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = reporting::service::Config {
        data_dir: dir.path().join("reporting"),
        server: ServerConfig { drain_timeout: Duration::from_secs(2), ..ServerConfig::default() },
        jwt: jwt(),
        amqp_uri: None,
        source_logs: HashMap::new(),
        indicators: None,
    };
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(reporting::service::run(listener, config, shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap();

    let org = uuid::Uuid::new_v4().to_string();
    for method in service_methods() {
        let path = format!("/{SERVICE_NAME}/{method}");
        for role in Role::ALL {
            let organisation = (role == Role::Partner).then_some(org.as_str());
            let code = call(&channel, &path, authed((), &token(role, "someone", organisation))).await;
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
    }

    let mut client = contracts::reporting::v1::ReportingServiceClient::new(channel.clone());
    let request = authed(contracts::reporting::v1::GetIndicatorCatalogueRequest {}, &token(Role::Reviewer, "r", None));
    let catalogue = client.get_indicator_catalogue(request).await.unwrap().into_inner();
    assert_eq!(catalogue.version, reporting::domain::catalogue::Catalogue::embedded().unwrap().version);
    let shelter = catalogue.indicators.iter().find(|i| i.indicator_id == "persons_assisted_shelter").unwrap();
    assert_eq!(shelter.dimensions, ["sex", "age_band", "disability"]);

    // An unknown award reads as not found, a malformed id is invalid.
    let request =
        contracts::reporting::v1::GetObligationsRequest { award_id: uuid::Uuid::new_v4().to_string(), as_of: None };
    let status = client.get_obligations(authed(request, &token(Role::Auditor, "a", None))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let request = contracts::reporting::v1::GetObligationsRequest { award_id: "nope".into(), as_of: None };
    let status = client.get_obligations(authed(request, &token(Role::Auditor, "a", None))).await.unwrap_err();
    assert_eq!((status.code(), status.message().contains("`award_id`")), (Code::InvalidArgument, true));

    shutdown.cancel();
    handle.await.unwrap().unwrap();
}

#[test]
fn a_catalogue_file_that_breaks_a_rule_stops_the_service_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indicators.json");
    std::fs::write(&path, r#"{"version": "x", "indicators": [{"indicator_id": "a", "title": "t", "unit": "u", "group": "g", "dimensions": ["name"]}]}"#).unwrap();
    let error = reporting::service::load_catalogue(Some(&path)).unwrap_err().to_string();
    assert!(error.contains("`name` is not one of"), "{error}");
    std::fs::write(&path, reporting::domain::catalogue::EMBEDDED).unwrap();
    assert!(reporting::service::load_catalogue(Some(&path)).is_ok());
}
