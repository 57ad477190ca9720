//! What the perturbation does to a generated program's published victim counts: how far shown counts
//! move, how often a total or margin differs from the sum of its shown parts, and how often subtracting
//! one round's table from the program's gives the other round's small (withheld) count exactly.
//!
//! `cargo bench -p projector --bench perturbation` (set `PROJECTOR_BENCH_GRANTS` for another size). The
//! events go through real logs on disk and the projection the service runs; the summaries are the ones
//! `GetProgramSummary` answers with k = 5, for D = 2 and D = 3, each under 100 installation secrets (each
//! secret draws every perturbation anew, as another installation would).

#[path = "../tests/support/events.rs"]
mod events;

use std::collections::{BTreeMap, HashMap};

use contracts::projector::v1 as pb;
use contracts::reporting::v1::{AgeBand, Disability, Sex};
use event_log::EventLog;
use projector::disclosure::Disclosure;
use projector::projection::{SOURCES, project};
use projector::queries::{SummaryFilter, program_summary};
use projector::store::MemStore;

const ROUNDS: usize = 2;
const SECRETS: usize = 100;
const K: u32 = 5;

/// A deterministic generator: the same program on every run.
struct Generator(u64);

impl Generator {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

type Cell = (i32, i32, i32);

/// One report per grant: a few cells, a quarter of them small.
fn report_cells(generator: &mut Generator) -> Vec<(Sex, AgeBand, Disability, u64)> {
    let sexes = [Sex::Female, Sex::Male];
    let ages = [AgeBand::Years0To11, AgeBand::Years12To17, AgeBand::Years18To24, AgeBand::Years25To59];
    let disabilities = [Disability::WithDisability, Disability::WithoutDisability];
    let mut cells = BTreeMap::new();
    for _ in 0..1 + generator.next(6) {
        let cell = (
            sexes[generator.next(2) as usize],
            ages[generator.next(4) as usize],
            disabilities[generator.next(2) as usize],
        );
        let count = if generator.next(4) == 0 { 1 + generator.next(4) } else { 5 + generator.next(40) };
        cells.insert((cell.0 as i32, cell.1 as i32, cell.2 as i32), (cell, count));
    }
    cells.into_values().map(|((s, a, d), n)| (s, a, d, n)).collect()
}

/// Exact cell counts of each round and of the whole program.
type Exact = BTreeMap<Option<usize>, BTreeMap<Cell, u64>>;

async fn generated_program(grants: usize) -> (MemStore, Vec<String>, Exact) {
    let dir = tempfile::tempdir().unwrap();
    let logs: HashMap<&'static str, EventLog> =
        SOURCES.iter().map(|s| (*s, EventLog::open(dir.path().join(s)).unwrap())).collect();
    let rounds: Vec<String> = (0..ROUNDS).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15);
    let mut exact: Exact = BTreeMap::new();
    let mut all = Vec::new();
    for round in &rounds {
        all.push(events::round_opened(round));
    }
    for index in 0..grants {
        let r = index % ROUNDS;
        let g = events::Grant::new(&rounds[r]);
        all.extend(events::application_approved(&g, "KH", 100_000, 100_000));
        all.extend(events::award_signed(&g, "KH", 100_000));
        all.push(events::obligations_scheduled(&g));
        let cells = report_cells(&mut generator);
        for (s, a, d, n) in &cells {
            for scope in [Some(r), None] {
                *exact.entry(scope).or_default().entry((*s as i32, *a as i32, *d as i32)).or_default() += n;
            }
        }
        all.push(events::report_submitted(&g, &cells));
        all.push(events::report_accepted(&g));
    }
    events::append_all(&logs, &all).await;
    let mut store = MemStore::default();
    for source in SOURCES {
        for event in logs[source].read_all(0) {
            project(&mut store, source, &event.unwrap()).unwrap();
        }
    }
    (store, rounds, exact)
}

fn value(count: Option<pb::ProtectedCount>) -> Option<u64> {
    count.filter(|c| !c.suppressed).map(|c| c.value)
}

fn cells_of(summary: &pb::ProgramSummary) -> BTreeMap<Cell, Option<u64>> {
    summary.indicators[0].cells.iter().map(|c| ((c.sex, c.age_band, c.disability), value(c.count))).collect()
}

#[derive(Default)]
struct Figures {
    shown: u64,
    moved: u64,
    absolute: u64,
    relations: u64,
    relations_off: u64,
    attacks: u64,
    exact_hits: u64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.shown += other.shown;
        self.moved += other.moved;
        self.absolute += other.absolute;
        self.relations += other.relations;
        self.relations_off += other.relations_off;
        self.attacks += other.attacks;
        self.exact_hits += other.exact_hits;
    }
}

fn measure(store: &MemStore, rounds: &[String], exact: &Exact, disclosure: &Disclosure) -> Figures {
    let mut figures = Figures::default();
    let summary_of = |round: Option<&String>| {
        let filter = SummaryFilter { round_id: round.cloned(), ..SummaryFilter::default() };
        program_summary(store, &filter, disclosure).unwrap()
    };
    let program = summary_of(None);
    let program_cells = cells_of(&program);
    for (r, round) in rounds.iter().enumerate() {
        let summary = summary_of(Some(round));
        let indicator = &summary.indicators[0];
        let exact_cells = &exact[&Some(r)];
        // Cells: how far shown values moved.
        for cell in &indicator.cells {
            if let Some(shown) = value(cell.count) {
                let truth = exact_cells[&(cell.sex, cell.age_band, cell.disability)];
                figures.shown += 1;
                figures.moved += u64::from(shown != truth);
                figures.absolute += shown.abs_diff(truth);
            }
        }
        // Relations: the total and each sex margin against the sum of their shown cells (all shown).
        let cells = cells_of(&summary);
        let mut check = |whole: Option<u64>, parts: Vec<Option<u64>>| {
            if let (Some(whole), Some(parts)) = (whole, parts.into_iter().collect::<Option<Vec<u64>>>()) {
                figures.relations += 1;
                figures.relations_off += u64::from(whole != parts.iter().sum::<u64>());
            }
        };
        check(value(indicator.total), cells.values().copied().collect());
        for margin in &indicator.by_sex {
            check(value(margin.count), cells.iter().filter(|(c, _)| c.0 == margin.sex).map(|(_, v)| *v).collect());
        }
        for margin in &indicator.by_age_band {
            let parts = cells.iter().filter(|(c, _)| c.1 == margin.age_band).map(|(_, v)| *v).collect();
            check(value(margin.count), parts);
        }
        // The attack: the program's cell minus the other rounds' cells, for this round's small cells.
        for (cell, &truth) in exact_cells {
            if truth == 0 || truth >= u64::from(K) {
                continue;
            }
            let others: Option<Vec<u64>> = rounds
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != r)
                .map(|(o, other)| match exact[&Some(o)].get(cell) {
                    None => Some(0),
                    Some(_) => cells_of(&summary_of(Some(other))).get(cell).copied().flatten(),
                })
                .collect();
            if let (Some(Some(whole)), Some(others)) = (program_cells.get(cell), others) {
                figures.attacks += 1;
                let others: u64 = others.iter().sum();
                figures.exact_hits += u64::from(whole.checked_sub(others) == Some(truth));
            }
        }
    }
    figures
}

#[tokio::main]
async fn main() {
    let grants = std::env::var("PROJECTOR_BENCH_GRANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let (store, rounds, exact) = generated_program(grants).await;
    println!("{grants} grants in {ROUNDS} rounds, one accepted report each; k = {K}; {SECRETS} secrets per D");
    println!(
        "| D | shown cells | moved | mean absolute perturbation | totals and margins off their cells | differencing attacks | exact |"
    );
    println!("|---|---|---|---|---|---|---|");
    for bound in [2, 3] {
        let mut f = Figures::default();
        for secret in 0..SECRETS {
            let secret = format!("installation {secret} of the perturbation bench, 32+ bytes");
            let disclosure = Disclosure::new(K, bound, secret.as_bytes()).unwrap();
            f.add(&measure(&store, &rounds, &exact, &disclosure));
        }
        let percent = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
        println!(
            "| {bound} | {} | {:.0}% | {:.2} | {:.0}% of {} | {} | {} ({:.0}%) |",
            f.shown,
            percent(f.moved, f.shown),
            f.absolute as f64 / f.shown.max(1) as f64,
            percent(f.relations_off, f.relations),
            f.relations,
            f.attacks,
            f.exact_hits,
            percent(f.exact_hits, f.attacks),
        );
    }
}
