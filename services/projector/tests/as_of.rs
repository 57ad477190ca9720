//! Every read-model page as it stood at a past point: the four services in this process on the real
//! broker (a vhost of its own). Two grants are offered; the pages are read live at that point; then a
//! round closes, the first grant is signed and paid, and a third grant starts. As of the point (by time
//! and by positions) each page equals what was live then and differs from what is live now; what did
//! not exist yet is NOT_FOUND; a bad point is refused naming its field.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use contracts::applications::v1 as apps;
use contracts::awards::v1 as aw;
use contracts::common::v1::{Date, PageRequest};
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use domain_kernel::Role;
use test_support::fixtures::{agree_and_sign, agreement, approve_application, release_tranche, request_id};
use test_support::services::Sources;
use test_support::{authed, eventually_within, token};
use tonic::transport::Channel;
use tonic::{Code, Status};

use self::support::platform::Platform;

/// The four answers that gained `as_of`, every listing read page by page.
#[derive(Clone, Debug, PartialEq)]
struct Pages {
    rounds: Vec<pb::RoundPipeline>,
    round: pb::RoundPipeline,
    portfolios: Vec<pb::PartnerPortfolio>,
    timeline: pb::GrantTimeline,
}

/// Reads a listing to its end, one item a page, so that paging is exercised wherever the listing has
/// more than one item.
async fn every_page<T, F, Fut>(mut next: F) -> Result<Vec<T>, Status>
where
    F: FnMut(Option<PageRequest>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), Status>>,
{
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let (items, next_page_token) = next(Some(PageRequest { page_size: 1, page_token })).await?;
        out.extend(items);
        if next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = next_page_token;
    }
}

struct Reader {
    grpc: ProjectorServiceClient<Channel>,
    staff: String,
    partner: String,
    round_id: String,
    application_id: String,
}

impl Reader {
    async fn pages(&self, as_of: Option<pb::AsOf>, on_date: Option<Date>) -> Result<Pages, Status> {
        let rounds = every_page(|page| {
            let (mut grpc, as_of) = (self.grpc.clone(), as_of.clone());
            let request = authed(pb::ListRoundPipelinesRequest { page, as_of }, &self.staff);
            async move {
                let response = grpc.list_round_pipelines(request).await?.into_inner();
                Ok((response.rounds, response.next_page_token))
            }
        })
        .await?;
        let portfolios = every_page(|page| {
            let (mut grpc, as_of) = (self.grpc.clone(), as_of.clone());
            let request = pb::ListPortfoliosRequest { page, as_of, on_date, ..Default::default() };
            let request = authed(request, &self.staff);
            async move {
                let response = grpc.list_portfolios(request).await?.into_inner();
                Ok((response.portfolios, response.next_page_token))
            }
        })
        .await?;
        Ok(Pages {
            rounds,
            round: self.round(&self.round_id, as_of.clone()).await?,
            portfolios,
            timeline: self
                .timeline(pb::Grant::ApplicationId(self.application_id.clone()), as_of, &self.partner)
                .await?,
        })
    }

    async fn round(&self, round_id: &str, as_of: Option<pb::AsOf>) -> Result<pb::RoundPipeline, Status> {
        let request = pb::GetRoundPipelineRequest { round_id: round_id.into(), as_of };
        Ok(self.grpc.clone().get_round_pipeline(authed(request, &self.staff)).await?.into_inner())
    }

    async fn timeline(
        &self,
        grant: pb::Grant,
        as_of: Option<pb::AsOf>,
        who: &str,
    ) -> Result<pb::GrantTimeline, Status> {
        let request = pb::GetGrantTimelineRequest { grant: Some(grant), as_of };
        Ok(self.grpc.clone().get_grant_timeline(authed(request, who)).await?.into_inner())
    }

    /// Per source, the next position of its log, once the projector has applied all of it.
    async fn caught_up(&self) -> Option<HashMap<String, u64>> {
        let lag = self.grpc.clone().get_lag(authed(pb::GetLagRequest {}, &self.staff)).await.ok()?.into_inner();
        let caught_up = lag.sources.len() == 3 && lag.sources.iter().all(|s| s.error.is_empty() && s.behind == 0);
        caught_up.then(|| lag.sources.into_iter().map(|s| (s.source, s.head_next_position)).collect())
    }
}

fn at(point: pb::Point) -> Option<pb::AsOf> {
    Some(pb::AsOf { point: Some(point) })
}

/// The UTC day of `t`.
fn day_of(t: &prost_types::Timestamp) -> Date {
    let date = time::OffsetDateTime::from_unix_timestamp(t.seconds).unwrap().date();
    Date { year: date.year(), month: i32::from(u8::from(date.month())), day: i32::from(date.day()) }
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(field), "names `{field}`: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_as_of_a_past_point_is_what_was_live_then() {
    let platform = Platform::start().await;
    let Platform { sources: Sources { applications, awards, .. }, projector, .. } = &platform;

    // Two grants offered, in two rounds, to two organisations.
    let [org_a, org_b, org_c] = [(); 3].map(|()| uuid::Uuid::new_v4().to_string());
    let first = approve_application(applications.channel().await, &org_a).await;
    approve_application(applications.channel().await, &org_b).await;
    let reader = Reader {
        grpc: projector.client(ProjectorServiceClient::new).await,
        staff: token(Role::ProgramOfficer, "officer-1", None),
        partner: token(Role::Partner, "partner-1", Some(&org_a)),
        round_id: first.round_id.clone(),
        application_id: first.application_id.clone(),
    };
    eventually_within("the projector to show both awards", Duration::from_secs(30), || async {
        (reader.pages(None, None).await.ok()?.portfolios.len() == 2).then_some(())
    })
    .await;

    // The pages live at a point: nothing was recorded while they were read (the heads did not move), and
    // everything recorded before was applied.
    let (heads, point, then) =
        eventually_within("a quiet moment to read the pages", Duration::from_secs(30), || async {
            let heads = reader.caught_up().await?;
            let point = prost_types::Timestamp::from(std::time::SystemTime::now());
            let pages = reader.pages(None, Some(day_of(&point))).await.ok()?;
            (reader.caught_up().await? == heads).then_some((heads, point, pages))
        })
        .await;
    assert_eq!((then.rounds.len(), then.portfolios.len()), (2, 2), "two of each, read one a page");
    assert_eq!(then.portfolios[0].as_of_date, Some(day_of(&point)));

    // Later: the first round closes, the first grant is signed and paid, a third grant starts.
    let mut apps_client = applications.client(apps::ApplicationsServiceClient::new).await;
    let close =
        apps::CloseRoundRequest { request_id: request_id(), round_id: first.round_id.clone(), reason: String::new() };
    apps_client.close_round(authed(close, &token(Role::ProgramOfficer, "officer-0", None))).await.unwrap();
    let award_id = projector::projection::award_id_for(&first.application_id).unwrap();
    let mut awards_client = awards.client(aw::AwardsServiceClient::new).await;
    agree_and_sign(&mut awards_client, &award_id, agreement()).await;
    release_tranche(&mut awards_client, &award_id, "t1", 140_000, "finance-1").await.unwrap();
    let third = approve_application(applications.channel().await, &org_c).await;
    let third_award = projector::projection::award_id_for(&third.application_id).unwrap();
    let now = eventually_within("the projector to show the later events", Duration::from_secs(30), || async {
        let pages = reader.pages(None, Some(day_of(&point))).await.ok()?;
        let paid = pages.timeline.entries.iter().any(|e| e.event_type == "TrancheReleased");
        (pages.portfolios.len() == 3 && pages.round.status == "closed" && paid).then_some(pages)
    })
    .await;

    // As of the point, by time (obligations judged on its day by default) and by positions.
    let by_time = reader.pages(at(pb::Point::RecordedAt(point)), None).await.unwrap();
    let positions = pb::SourcePositions { next_positions: heads.into_iter().collect() };
    let by_positions = reader.pages(at(pb::Point::Positions(positions)), Some(day_of(&point))).await.unwrap();
    for past in [&by_time, &by_positions] {
        assert_eq!(past.rounds, then.rounds);
        assert_eq!(past.round, then.round);
        assert_eq!(past.portfolios, then.portfolios);
        assert_eq!(past.timeline, then.timeline);
    }
    assert_ne!(now.rounds, then.rounds);
    assert_ne!(now.round, then.round);
    assert_ne!(now.portfolios, then.portfolios);
    assert_ne!(now.timeline, then.timeline);
    assert_eq!((then.round.status.as_str(), now.round.status.as_str()), ("open", "closed"));

    // What did not exist at the point is NOT_FOUND then, and found now.
    let past = || at(pb::Point::RecordedAt(point));
    let staff = reader.staff.clone();
    let third_app = pb::Grant::ApplicationId(third.application_id.clone());
    let (by_app, by_award) = (third_app.clone(), pb::Grant::AwardId(third_award.clone()));
    for grant in [by_app, by_award] {
        let status = reader.timeline(grant.clone(), past(), &staff).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(reader.timeline(grant, None, &staff).await.unwrap().application_id, third.application_id);
    }
    assert_eq!(reader.round(&third.round_id, past()).await.unwrap_err().code(), Code::NotFound);
    reader.round(&third.round_id, None).await.unwrap();

    // Partners still see only their own organisation's grants as of a point.
    let stranger = token(Role::Partner, "partner-9", Some(&org_b));
    let first_app = pb::Grant::ApplicationId(first.application_id.clone());
    assert_eq!(reader.timeline(first_app, past(), &stranger).await.unwrap_err().code(), Code::NotFound);

    // A bad point is refused naming its field.
    let bad_time = prost_types::Timestamp { seconds: point.seconds, nanos: -1 };
    let unknown_source = pb::SourcePositions { next_positions: [("ledger".to_owned(), 1)].into() };
    assert_refused(reader.pages(Some(pb::AsOf { point: None }), None).await, "as_of");
    assert_refused(reader.pages(at(pb::Point::RecordedAt(bad_time)), None).await, "as_of.recorded_at");
    assert_refused(reader.pages(at(pb::Point::Positions(unknown_source)), None).await, "as_of.positions");
    assert_refused(reader.pages(past(), Some(Date { year: 2026, month: 2, day: 30 })).await, "on_date");
    // Each of the four refuses on its own, not only the first one read.
    assert_refused(reader.round(&first.round_id, Some(pb::AsOf { point: None })).await, "as_of");
    let grant = pb::Grant::ApplicationId(first.application_id.clone());
    assert_refused(reader.timeline(grant, Some(pb::AsOf { point: None }), &staff).await, "as_of");
    let request = pb::ListPortfoliosRequest { as_of: Some(pb::AsOf { point: None }), ..Default::default() };
    assert_refused(reader.grpc.clone().list_portfolios(authed(request, &staff)).await, "as_of");

    platform.stop().await;
}
