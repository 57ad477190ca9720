//! What the demo seeded, kept as it goes and printed at the end with the commands to follow one grant.

use contracts::reporting::v1 as rp;

use super::program::{FEATURED, PARTNERS};
use crate::stdout::say;

/// What the demo made, for the summary.
#[derive(Default)]
pub(super) struct Seeded {
    pub(super) round_id: String,
    pub(super) organisations: usize,
    pub(super) approved: Vec<(usize, String)>,
    pub(super) rejected: Vec<String>,
    pub(super) awards: Vec<(usize, String)>,
    pub(super) releases: usize,
    /// Position of the interim release in the awards log.
    pub(super) interim_release: u64,
}

/// How many obligations of every award are overdue.
pub(super) fn count_overdue(obligations: &[rp::ObligationsResponse]) -> usize {
    let overdue = |o: &&rp::ObligationView| o.status == rp::ObligationStatus::Overdue as i32;
    obligations.iter().map(|response| response.obligations.iter().filter(overdue).count()).sum()
}

/// What was seeded, and the commands that follow the featured grant through its history.
pub(super) fn print_summary(seeded: &Seeded, overdue: usize) {
    let featured = seeded.approved.iter().find(|(i, _)| *i == FEATURED).map(|(_, id)| id.as_str()).unwrap_or_default();
    let featured_award =
        seeded.awards.iter().find(|(i, _)| *i == FEATURED).map(|(_, id)| id.as_str()).unwrap_or_default();
    say!();
    say!("Demo program seeded:");
    say!("  round                  {}", seeded.round_id);
    say!("  organisations          {}", seeded.organisations);
    say!("  applications           {} approved, {} rejected", seeded.approved.len(), seeded.rejected.len());
    say!("  awards                 {} signed", seeded.awards.len());
    say!("  tranche releases       {}", seeded.releases);
    say!("  variations approved    1");
    say!("  overdue obligations    {overdue}");
    say!();
    say!("A grant to follow ({}):", PARTNERS[FEATURED].legal_name);
    say!("  application            {featured}");
    say!("  award                  {featured_award}");
    say!("  grants history --application {featured}");
    let position = seeded.interim_release;
    say!("  grants as-of --award {featured_award} --position {position}     (before the interim release)");
    say!("  grants as-of --award {featured_award} --position {}     (after it)", position + 1);
    say!("  grants verify --all");
}
