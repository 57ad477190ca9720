//! `grants publish iati` and `grants publish 360giving` against the four real services running in this
//! process (data in temporary directories, the real RabbitMQ on a vhost of the test's own). Every file is
//! validated by `tests/open-data/validate.py` against the official schemas vendored in `tests/standards/`
//! (IATI 2.03 XSD with lxml, every code against the IATI 2.03 codelists, the 360Giving 1.4.3 package
//! schema with jsonschema) and against the IATI rules the XSD does not express (listed in that script).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use contracts::awards::v1 as aw;
use contracts::common::v1::{ErasureReason, Money};
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use contracts::reporting::v1 as rp;
use domain_kernel::Role;
use serde_json::Value;
use test_support::fixtures::{self, date, request_id};
use test_support::{Vhost, authed, eventually, token};

mod command_output;
mod platform_in_process;
#[path = "../../../tests/python-verifier/python_env.rs"]
mod python_env;

use command_output::{run, stderr, stdout};

const REPORTING_ORG: &str = "AU-5";
const PREFIX: &str = "360G-aseanact";

/// Free text submitted in clear in the second program: none of it may reach a published file.
const NARRATIVE: &str = "The lantern stayed lit in the shelter kitchen all winter";
const VARIATION_REASON: &str = "The river road to the second shelter flooded twice this season";
const APPROVAL_COMMENT: &str = "Approved after the flood assessment by the mobile team";
const TERMINATION_REASON: &str = "The partner board dissolved after the audit of the old warehouse";
/// What the fixtures submit in clear or sealed: a contact person, an application's summary, target group,
/// review comment and approval reasons.
const FIXTURE_TEXTS: [&str; 7] = [
    "Contact Person",
    "c@example.org",
    "Safe shelter and legal aid",
    "women returning from abroad",
    "Strong",
    "Fits the round",
    "PAY-1",
];

/// `grants` against `endpoints` with the test services' secret and the publisher's identity in the
/// environment.
fn grants(endpoints: &[(String, String)], args: &[&str]) -> Command {
    let mut command = platform_in_process::grants(endpoints, args);
    command
        .env("GRANTS_IATI_REPORTING_ORG_REF", REPORTING_ORG)
        .env("GRANTS_IATI_REPORTING_ORG_NAME", "Department of Foreign Affairs and Trade")
        .env("GRANTS_FUNDER_REF", "AU-5")
        .env("GRANTS_FUNDER_NAME", "Australian Government")
        .env("GRANTS_360GIVING_PREFIX", PREFIX);
    command
}

/// Both files, written to `dir` under `name`, with `extra` arguments (`--as-of`).
async fn publish(endpoints: &[(String, String)], dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let iati = dir.join(format!("{name}.xml"));
    let giving = dir.join(format!("{name}.json"));
    for (format, file) in [("iati", &iati), ("360giving", &giving)] {
        let mut args = vec!["publish", format, "--output", file.to_str().unwrap()];
        args.extend(extra);
        let output = run(grants(endpoints, &args)).await;
        assert!(output.status.success(), "publish {format}: {}", stderr(&output));
        assert!(stderr(&output).contains("publish: reading applications"), "progress on stderr: {}", stderr(&output));
    }
    (iati, giving)
}

/// The IATI 2.03 codelists' archive, fetched once with pip (its hash pinned in codelists.txt).
fn codelists(python: &Path) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iati-codelists");
    let archive = dir.join("pyIATI-0.4.1.tar.gz");
    if !archive.exists() {
        let partial = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let requirements = python_env::repository_root().join("tests/open-data/codelists.txt");
        let status = Command::new(python)
            .args(["-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d"])
            .arg(partial.path())
            .arg("-r")
            .arg(requirements)
            .status()
            .unwrap();
        assert!(status.success(), "downloading the IATI codelists failed");
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::rename(partial.path().join("pyIATI-0.4.1.tar.gz"), &archive);
    }
    archive
}

/// What `validate.py` says of both files; panics with its errors unless both are valid.
fn validate(iati: &Path, giving: &Path) -> Value {
    let (valid, report) = validation(iati, giving);
    assert!(valid, "invalid: {report:#}");
    assert!(report["iati"]["codes_checked"].as_u64().unwrap() > 0, "{report}");
    assert!(report["iati"]["rules_checked"].as_u64().unwrap() > 0, "{report}");
    report
}

/// Whether `validate.py` finds both files valid, and what it says.
fn validation(iati: &Path, giving: &Path) -> (bool, Value) {
    let python = python_env::python_with(
        "open-data",
        "tests/open-data/requirements.txt",
        "import lxml, jsonschema, rfc3339_validator",
    );
    let root = python_env::repository_root();
    let output = Command::new(&python)
        .arg(root.join("tests/open-data/validate.py"))
        .arg("--standards")
        .arg(root.join("tests/standards"))
        .arg("--codelists")
        .arg(codelists(&python))
        .arg("--iati")
        .arg(iati)
        .arg("--360giving")
        .arg(giving)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("validate.py: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), report)
}

/// The validation finds each kind of fault put into valid files: a code outside its codelist, a broken
/// hierarchy, disbursements above the commitment, a budget outside the activity's dates, an element
/// the XSD allows once written twice, a 360Giving date in another form.
fn faults_are_found(xml: &str, json: &str, dir: &Path) {
    let faults: [(&str, &str, &str, &str); 6] = [
        ("xml", "code=\"16010\"", "code=\"16999\"", "is not in Sector"),
        ("xml", "type=\"1\"/>\n  </iati-activity>", "type=\"3\"/>\n  </iati-activity>", "rule 3"),
        ("xml", ">-1050.00</value>", ">-2050.00</value>", "rule 6"),
        ("xml", "<period-end iso-date=\"2026-12-31\"/>", "<period-end iso-date=\"2027-12-31\"/>", "rule 4"),
        (
            "xml",
            "<default-flow-type code=\"10\"/>",
            "<default-flow-type code=\"10\"/><default-flow-type code=\"10\"/>",
            "default-flow-type",
        ),
        ("json", "\"awardDate\": \"", "\"awardDate\": \"on ", "awardDate"),
    ];
    for (index, (file, valid, faulty, expected)) in faults.into_iter().enumerate() {
        let (iati, giving) = (dir.join(format!("fault-{index}.xml")), dir.join(format!("fault-{index}.json")));
        let (xml, json) = match file {
            "xml" => (xml.replacen(valid, faulty, 1), json.to_owned()),
            _ => (xml.to_owned(), json.replacen(valid, faulty, 1)),
        };
        assert!(xml.len() + json.len() != 0 && (xml.contains(faulty) || json.contains(faulty)), "fault {index} put in");
        std::fs::write(&iati, xml).unwrap();
        std::fs::write(&giving, json).unwrap();
        let (valid, report) = validation(&iati, &giving);
        assert!(!valid && report.to_string().contains(expected), "fault {index} ({expected}) not found: {report:#}");
    }
}

/// Waits until the projector has applied every source's head.
async fn projector_caught_up(projector: &test_support::Running) {
    let client = ProjectorServiceClient::new(projector.channel().await);
    let staff = token(Role::ProgramOfficer, "officer-9", None);
    eventually("the projector to apply every event", || {
        let (mut client, staff) = (client.clone(), staff.clone());
        async move {
            let lag = client.get_lag(authed(pj::GetLagRequest {}, &staff)).await.ok()?.into_inner();
            lag.sources.iter().all(|s| s.error.is_empty() && s.behind == 0).then_some(())
        }
    })
    .await;
}

/// Every count the projector publishes for `round_id` and shows (not withheld).
async fn published_counts(projector: &test_support::Running, round_id: &str) -> (Vec<u64>, usize) {
    let mut client = ProjectorServiceClient::new(projector.channel().await);
    let request = pj::GetProgramSummaryRequest { round_id: round_id.into(), ..Default::default() };
    let staff = token(Role::ProgramOfficer, "officer-9", None);
    let summary = client.get_program_summary(authed(request, &staff)).await.unwrap().into_inner();
    let mut shown = Vec::new();
    let mut withheld_totals = 0;
    for indicator in &summary.indicators {
        let total = indicator.total.unwrap_or_default();
        if total.suppressed {
            withheld_totals += 1;
        } else {
            shown.push(total.value);
        }
        let margins = indicator
            .by_sex
            .iter()
            .map(|m| m.count)
            .chain(indicator.by_age_band.iter().map(|m| m.count))
            .chain(indicator.by_disability.iter().map(|m| m.count))
            .chain(indicator.cells.iter().map(|c| c.count));
        shown.extend(margins.flatten().filter(|c| !c.suppressed).map(|c| c.value));
    }
    shown.sort_unstable();
    (shown, withheld_totals)
}

/// The `value` of every `<actual value="N">` in the IATI file, sorted.
fn actual_values(xml: &str) -> Vec<u64> {
    let mut values: Vec<u64> =
        xml.split("<actual value=\"").skip(1).map(|rest| rest.split('"').next().unwrap().parse().unwrap()).collect();
    values.sort_unstable();
    values
}

/// The round id the awards of a file's parent activity belong to: the parent's identifier without the prefix.
fn parent_round(xml: &str) -> String {
    let parent = xml.split("hierarchy=\"1\"").nth(1).unwrap();
    let identifier = parent.split("<iati-identifier>").nth(1).unwrap().split('<').next().unwrap();
    identifier.strip_prefix(&format!("{REPORTING_ORG}-")).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_program_publishes_valid_iati_and_360giving_with_only_published_figures() {
    let vhost = Vhost::create();
    let (sources, projector, endpoints) = platform_in_process::start(vhost.uri()).await;
    let demo = run(grants(&endpoints, &["demo"])).await;
    assert!(demo.status.success(), "demo: {}\n{}", stdout(&demo), stderr(&demo));
    projector_caught_up(&projector).await;

    let dir = tempfile::tempdir().unwrap();
    let (iati, giving) = publish(&endpoints, dir.path(), "demo", &[]).await;
    let report = validate(&iati, &giving);
    assert_eq!(report["iati"]["activities"], 9, "the round and its eight awards: {report}");
    assert_eq!(report["360giving"]["grants"], 8, "{report}");

    let xml = std::fs::read_to_string(&iati).unwrap();
    let json = std::fs::read_to_string(&giving).unwrap();
    // Results: exactly the counts the projector publishes for the round, no other figure.
    let (published, withheld_totals) = published_counts(&projector, &parent_round(&xml)).await;
    assert!(!published.is_empty(), "the demo's accepted reports are published");
    assert_eq!(actual_values(&xml), published, "every shown count, and only those");
    assert_eq!(xml.matches("Withheld: small-cell suppression").count(), withheld_totals);
    // No contact person, e-mail address or phone number of the demo's organisations.
    for file in [&xml, &json] {
        assert!(!file.contains('@'), "an e-mail address was published");
    }
    assert!(xml.contains("<transaction-type code=\"3\"/>"), "the demo's releases are disbursements");
    assert!(json.contains("\"disbursementTransaction\""));

    projector.stop().await;
    for service in [sources.reporting, sources.awards, sources.applications] {
        service.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_varied_terminated_award_paid_in_two_currencies_publishes_no_text_and_stands_as_of_a_past_time() {
    let vhost = Vhost::create();
    let (sources, projector, endpoints) = platform_in_process::start(vhost.uri()).await;

    // An application approved, its award offered over the bus, its agreement signed (350 000 USD cents in
    // three tranches), obligations scheduled.
    let organisation = uuid::Uuid::new_v4().to_string();
    let platform_in_process::SignedGrant { application, award_id, awards: mut awards_client, reporting } =
        platform_in_process::signed_grant(&sources, &organisation).await;
    let auditor = token(Role::Auditor, "auditor-1", None);

    // The initial tranche (1 400.00 USD) paid in Thai baht.
    let finance = token(Role::FinanceOfficer, "finance-1", None);
    let in_baht = aw::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        tranche_id: "t1".into(),
        payment: Some(aw::Payment {
            paid_amount: Some(Money { minor_units: 5_057_500, currency: "THB".into() }),
            exchange_rate: "36.1250".into(),
            rate_source: "Bank of Thailand reference rate".into(),
            rate_value_date: date(2026, 1, 5),
            payment_reference: "PAY-1".into(),
        }),
    };
    awards_client.release_tranche(authed(in_baht, &finance)).await.unwrap();

    // A variation extends the agreement, requested and approved with words of their own.
    let partner = token(Role::Partner, "partner-1", Some(&organisation));
    let officer = token(Role::ProgramOfficer, "officer-2", None);
    let change = aw::VariationChange {
        change: Some(aw::Change::EndDate(aw::EndDateChange { new_end_date: date(2027, 3, 31) })),
    };
    let requested = aw::RequestVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        change: Some(change),
        reason: VARIATION_REASON.into(),
    };
    let award = awards_client.request_variation(authed(requested, &partner)).await.unwrap().into_inner();
    let variation_id = award.award.unwrap().variations[0].variation_id.clone();
    let approve = aw::ApproveVariationRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        variation_id,
        comment: APPROVAL_COMMENT.into(),
    };
    awards_client.approve_variation(authed(approve, &officer)).await.unwrap();

    // A progress report: a count that is shown (perturbed) and one withheld; its narrative is then erased.
    let progress = rp::ProgressContent {
        narrative: NARRATIVE.into(),
        indicators: vec![
            rp::IndicatorValue { indicator_id: "legal_cases_prosecution".into(), total: 9, cells: vec![] },
            rp::IndicatorValue { indicator_id: "policy_evidence_products".into(), total: 2, cells: vec![] },
        ],
    };
    platform_in_process::submit_progress(&reporting, &partner, &award_id, progress).await;
    let accept = rp::AcceptReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        expected_version: None,
    };
    reporting.clone().accept_report(authed(accept, &officer)).await.unwrap();
    let erase = rp::EraseReportTextRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        reason: ErasureReason::IdentifiesPersonServed as i32,
    };
    reporting.clone().erase_report_text(authed(erase, &officer)).await.unwrap();

    // Before the interim release: a point to publish as of.
    let before_release =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    eventually("the acceptance to unlock the interim tranche", || {
        let (mut client, auditor) = (awards_client.clone(), auditor.clone());
        let request = aw::GetAwardRequest { award_id: award_id.clone() };
        async move {
            let award = client.get_award(authed(request, &auditor)).await.ok()?.into_inner().award?;
            award
                .tranches
                .iter()
                .any(|t| t.tranche.as_ref().is_some_and(|t| t.tranche_id == "t2") && t.conditions_met)
                .then_some(())
        }
    })
    .await;
    let interim = aw::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        tranche_id: "t2".into(),
        payment: fixtures::payment(105_000),
    };
    awards_client.release_tranche(authed(interim, &finance)).await.unwrap();
    let terminate = aw::TerminateAwardRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        reason: TERMINATION_REASON.into(),
    };
    awards_client.terminate_award(authed(terminate, &officer)).await.unwrap();
    projector_caught_up(&projector).await;

    // Both files validate, twice alike.
    let dir = tempfile::tempdir().unwrap();
    let (iati, giving) = publish(&endpoints, dir.path(), "now", &[]).await;
    validate(&iati, &giving);
    let (iati_again, giving_again) = publish(&endpoints, dir.path(), "again", &[]).await;
    let xml = std::fs::read_to_string(&iati).unwrap();
    let json = std::fs::read_to_string(&giving).unwrap();
    assert_eq!(xml, std::fs::read_to_string(&iati_again).unwrap(), "the same state publishes the same file");
    assert_eq!(json, std::fs::read_to_string(&giving_again).unwrap());
    let grant: Value = serde_json::from_str(&json).unwrap();
    let grant = &grant["grants"][0];
    assert_eq!(grant["id"], format!("{PREFIX}-{award_id}"));
    assert!(xml.contains(&format!("<iati-identifier>{REPORTING_ORG}-{award_id}</iati-identifier>")));

    // Nothing written in free text, sealed, erased or personal reaches either file; the title does.
    for text in [NARRATIVE, VARIATION_REASON, APPROVAL_COMMENT, TERMINATION_REASON].iter().chain(&FIXTURE_TEXTS) {
        assert!(!xml.contains(text) && !json.contains(text), "{text:?} was published");
    }
    assert!(xml.contains("Shelter in Phnom Penh") && json.contains("Shelter in Phnom Penh"));

    // The award: terminated (cancelled, with its end), the extension, the baht payment with its rate, the
    // interim disbursement, and the unreleased commitment withdrawn.
    assert!(xml.contains("<activity-status code=\"5\"/>"), "{xml}");
    assert!(xml.contains("<activity-date type=\"3\" iso-date=\"2027-03-31\"/>"), "the varied end date");
    assert!(xml.contains("<activity-date type=\"4\" iso-date="), "the actual end");
    assert!(xml.contains("<value currency=\"THB\" value-date=\"2026-01-05\">50575.00</value>"), "{xml}");
    assert!(xml.contains("1400.00 USD paid as 50575.00 THB at 36.1250 THB per USD"), "{xml}");
    assert!(xml.contains(&format!("{award_id}-t2")));
    assert!(xml.contains(">-1050.00</value>"), "the final tranche's commitment withdrawn: {xml}");
    assert_eq!(grant["amountDisbursed"], 2450.0);
    assert_eq!(grant["actualDates"][0]["startDate"], "2026-01-01");
    // Results: only published counts; the withheld one marked, never its exact 2.
    let round_id = application.round_id.clone();
    let (published, withheld_totals) = published_counts(&projector, &round_id).await;
    assert_eq!(withheld_totals, 1, "2 policy products are below k");
    assert_eq!(actual_values(&xml), published);
    assert_eq!(xml.matches("Withheld: small-cell suppression").count(), 1);
    faults_are_found(&xml, &json, dir.path());

    // As of the time before the interim release: the baht payment, not the interim disbursement.
    let (iati_then, giving_then) = publish(&endpoints, dir.path(), "then", &["--as-of", &before_release]).await;
    validate(&iati_then, &giving_then);
    let xml_then = std::fs::read_to_string(&iati_then).unwrap();
    let then: Value = serde_json::from_str(&std::fs::read_to_string(&giving_then).unwrap()).unwrap();
    assert!(xml_then.contains(&format!("{award_id}-t1")) && !xml_then.contains(&format!("{award_id}-t2")));
    assert!(xml_then.contains("<activity-status code=\"2\"/>"), "still active then");
    assert_eq!(then["grants"][0]["amountDisbursed"], 1400.0);
    assert_eq!(then["grants"][0]["id"], grant["id"], "identifiers do not change with the point");

    // Standard output holds the same package; a day before anything was recorded has nothing to publish.
    let output = run(grants(&endpoints, &["publish", "360giving"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), json);
    let output = run(grants(&endpoints, &["publish", "iati", "--as-of", "2020-01-01"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).ends_with("nothing to publish: no funding round was recorded as of 2020-01-01\n"),
        "{}",
        stderr(&output)
    );

    projector.stop().await;
    for service in [sources.reporting, sources.awards, sources.applications] {
        service.stop().await;
    }
}

#[tokio::test]
async fn the_publishers_identity_is_checked_naming_the_flag_and_rule() {
    let output: Output = run(grants(&[], &["publish", "iati", "--reporting-org-ref", "AU 5"])).await;
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(error.contains("--reporting-org-ref `AU 5` must be an organisation identifier"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");

    let mut command = grants(&[], &["publish", "360giving"]);
    command.env("GRANTS_360GIVING_PREFIX", "GB-COH-1");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--prefix `GB-COH-1` must be a 360Giving prefix: `360G-`"), "{}", stderr(&output));

    let output = run(grants(&[], &["publish", "iati", "--reporting-org-type", "12"])).await;
    assert!(stderr(&output).contains("must be a code of the IATI OrganisationType codelist"), "{}", stderr(&output));

    let mut command = grants(&[], &["publish", "360giving", "--as-of", "March 2022"]);
    command.env_remove("GRANTS_FUNDER_NAME");
    let output = run(command).await;
    let error = stderr(&output);
    assert!(error.contains("--funder-name (or GRANTS_FUNDER_NAME) is required"), "{error}");
}
