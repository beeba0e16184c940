//! Writes the sample project's data: a coffee-equipment company's
//! campaigns, leads and their engagement, accounts, opportunities, monthly
//! order files, complaints, visits and targets, from 2025-01 to 2026-11.
//!
//! Deterministic: the same seed gives the same bytes on every machine.
//! `--orders N` sets the number of order lines (the committed sample has
//! the default; benchmarks use millions).
//!
//! ```sh
//! cargo run --release --bin warroom-sample -- --out data --orders 1000000
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime};
use clap::Parser;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Options of the generator.
#[derive(Debug, Parser)]
#[command(name = "warroom-sample", about = "Write the sample project's data")]
struct Args {
    /// Folder to write into.
    #[arg(long, default_value = "data")]
    out: PathBuf,
    /// Order lines to generate.
    #[arg(long, default_value_t = 24_000)]
    orders: usize,
    /// Random seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

const START: (i32, u32, u32) = (2025, 1, 1);
const END: (i32, u32, u32) = (2026, 11, 30);
const REPS: [&str; 6] = ["Amy", "Ben", "陳志明", "Dana", "Eric", "林怡君"];
const REGIONS: [&str; 4] = ["north", "central", "south", "east"];
const INDUSTRIES: [&str; 5] = ["cafe", "hotel", "office", "restaurant", "retail"];
const PRODUCTS: [(&str, f64); 6] = [
    ("espresso_machine", 68_000.0),
    ("grinder", 12_500.0),
    ("brewer", 4_800.0),
    ("kettle", 1_900.0),
    ("beans", 650.0),
    ("cleaning_kit", 420.0),
];
const SOURCES: [&str; 6] = ["web", "trade_show", "referral", "social", "email", "partner"];
const CHANNELS: [&str; 5] = ["search", "social", "trade_show", "email", "partner"];

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match generate(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn date(ymd: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2).expect("valid date")
}

fn days_between(a: NaiveDate, b: NaiveDate) -> u64 {
    (b - a).num_days().max(0) as u64
}

/// Order id, date (days since 1970), account index, product index, units, amount.
type OrderLine = (i64, i32, usize, usize, i64, f64);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn generate(args: &Args) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let (start, end) = (date(START), date(END));
    let span = days_between(start, end) + 1;
    std::fs::create_dir_all(&args.out)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let day = |d: NaiveDate| (d - epoch).num_days() as i32;

    // Accounts: a few large A accounts, more B and C.
    let n_accounts = 240;
    let mut accounts = Vec::new();
    for i in 0..n_accounts {
        let tier = match rng.random_range(0..100) {
            0..15 => "A",
            15..45 => "B",
            _ => "C",
        };
        let created = start + Days::new(rng.random_range(0..span));
        accounts.push((
            format!("AC{i:04}"),
            INDUSTRIES[rng.random_range(0..INDUSTRIES.len())],
            REGIONS[rng.random_range(0..REGIONS.len())],
            tier,
            created,
            REPS[i % REPS.len()],
        ));
    }
    write_csv(
        &args.out.join("accounts.csv"),
        "account_id,industry,region,tier,created_date,owner",
        accounts
            .iter()
            .map(|a| format!("{},{},{},{},{},{}", a.0, a.1, a.2, a.3, a.4, a.5)),
    )?;

    // Campaigns: one or two a month.
    let mut campaigns = Vec::new();
    let mut month = start;
    while month <= end {
        for _ in 0..rng.random_range(1..=2) {
            let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
            let cost = (rng.random_range(30..200) * 1000) as f64;
            campaigns.push((format!("CP{:03}", campaigns.len()), channel, month, cost));
        }
        month = month.checked_add_months(chrono::Months::new(1)).expect("month");
    }
    write_csv(
        &args.out.join("campaigns.csv"),
        "campaign_id,channel,start_date,cost",
        campaigns.iter().map(|c| format!("{},{},{},{}", c.0, c.1, c.2, c.3)),
    )?;

    // Leads, their engagement events and conversion.
    let mut leads = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut events = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..6000 {
        let created = start + Days::new(rng.random_range(0..span));
        let campaign = campaigns.iter().rev().find(|c| c.2 <= created).unwrap_or(&campaigns[0]);
        let source = if rng.random_bool(0.6) {
            campaign_source(campaign.1)
        } else {
            SOURCES[rng.random_range(0..SOURCES.len())]
        };
        let id = format!("LD{i:05}");
        let engagement: f64 = rng.random();
        let mut score = 0;
        for _ in 0..(engagement * 14.0) as usize {
            let (kind, weight) = match rng.random_range(0..100) {
                0..40 => ("email_open", 2),
                40..60 => ("email_click", 5),
                60..85 => ("page_view", 3),
                85..93 => ("download", 10),
                _ => ("trial_class", 25),
            };
            score += weight;
            let at = created + Days::new(rng.random_range(0..45));
            if at <= end {
                events.0.push(id.clone());
                events.1.push(day(at));
                events.2.push(kind);
            }
        }
        let converted = rng.random_bool((score as f64 / 120.0).min(0.9));
        let converted_date = created + Days::new(rng.random_range(5..60));
        let converted = converted && converted_date <= end;
        leads.0.push(id);
        leads.1.push(day(created));
        leads.2.push(source);
        leads.3.push(campaign.0.clone());
        leads.4.push(converted);
        leads.5.push(converted.then(|| day(converted_date)));
    }
    write_parquet(
        &args.out.join("leads.parquet"),
        vec![
            ("lead_id", strings(leads.0)),
            ("created_date", Arc::new(Date32Array::from(leads.1))),
            ("source", strings(leads.2)),
            ("campaign_id", strings(leads.3)),
            ("converted", Arc::new(BooleanArray::from(leads.4))),
            ("converted_date", Arc::new(Date32Array::from(leads.5))),
        ],
    )?;
    write_parquet(
        &args.out.join("lead_events.parquet"),
        vec![
            ("lead_id", strings(events.0)),
            ("event_date", Arc::new(Date32Array::from(events.1))),
            ("event_type", strings(events.2)),
        ],
    )?;

    // Opportunities: each rep has a win rate and a deal size of their own.
    let mut opps = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for i in 0..1400 {
        let rep_index = rng.random_range(0..REPS.len());
        let win_rate = [0.42, 0.18, 0.35, 0.30, 0.38, 0.33][rep_index];
        let size: f64 = [180.0, 120.0, 260.0, 150.0, 200.0, 140.0][rep_index] * 1000.0;
        let created = start + Days::new(rng.random_range(0..span));
        let cycle = rng.random_range(14..120);
        let close = created + Days::new(cycle);
        let amount = (size * rng.random_range(0.3..2.0) / 1000.0).round() * 1000.0;
        let (stage, close_date) = if close > end {
            (
                ["Prospecting", "Qualification", "Proposal", "Negotiation"][rng.random_range(0..4)],
                None,
            )
        } else if rng.random_bool(win_rate) {
            ("Closed Won", Some(day(close)))
        } else {
            ("Closed Lost", Some(day(close)))
        };
        opps.0.push(format!("OP{i:05}"));
        opps.1.push(accounts[rng.random_range(0..accounts.len())].0.clone());
        opps.2.push(REPS[rep_index]);
        opps.3.push(stage);
        opps.4.push(amount);
        opps.5.push(day(created));
        opps.6.push(close_date);
    }
    write_parquet(
        &args.out.join("opportunities.parquet"),
        vec![
            ("opportunity_id", strings(opps.0)),
            ("account_id", strings(opps.1)),
            ("owner", strings(opps.2)),
            ("stage", strings(opps.3)),
            ("amount", Arc::new(Float64Array::from(opps.4))),
            ("created_date", Arc::new(Date32Array::from(opps.5))),
            ("close_date", Arc::new(Date32Array::from(opps.6))),
        ],
    )?;

    // Orders, one Parquet file per month. A accounts order most; prices
    // drift and one account's espresso price is cut late in 2026.
    let orders_dir = args.out.join("orders");
    std::fs::create_dir_all(&orders_dir)?;
    let weights: Vec<f64> = accounts
        .iter()
        .map(|a| match a.3 {
            "A" => 8.0,
            "B" => 3.0,
            _ => 1.0,
        })
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let mut by_month: std::collections::BTreeMap<(i32, u32), Vec<OrderLine>> = Default::default();
    for i in 0..args.orders {
        let when = start + Days::new(rng.random_range(0..span));
        let mut pick = rng.random_range(0.0..total_weight);
        let mut account = 0;
        for (j, w) in weights.iter().enumerate() {
            if pick < *w {
                account = j;
                break;
            }
            pick -= w;
        }
        let product = match rng.random_range(0..100) {
            0..6 => 0,
            6..18 => 1,
            18..30 => 2,
            30..45 => 3,
            45..85 => 4,
            _ => 5,
        };
        let units = if product >= 4 {
            rng.random_range(2..40)
        } else {
            rng.random_range(1..4)
        };
        let seasonal = 1.0 + 0.15 * ((when.ordinal() as f64) / 58.0).sin();
        let mut price = PRODUCTS[product].1 * rng.random_range(0.92..1.08) * seasonal;
        if account == 0 && when >= date((2026, 11, 1)) {
            price *= 0.55;
        }
        by_month.entry((when.year(), when.month())).or_default().push((
            i as i64,
            day(when),
            account,
            product,
            units,
            (price * units as f64).round(),
        ));
    }
    for ((year, month), mut rows) in by_month {
        rows.sort_by_key(|r| (r.1, r.0));
        write_parquet(
            &orders_dir.join(format!("{year}-{month:02}.parquet")),
            vec![
                (
                    "order_id",
                    Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                ),
                (
                    "order_date",
                    Arc::new(Date32Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                ),
                (
                    "account_id",
                    strings(rows.iter().map(|r| accounts[r.2].0.clone()).collect()),
                ),
                ("product", strings(rows.iter().map(|r| PRODUCTS[r.3].0).collect())),
                (
                    "units",
                    Arc::new(Int64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
                ),
                (
                    "amount",
                    Arc::new(Float64Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
                ),
            ],
        )?;
    }

    // Complaints: timestamps for first response and resolution.
    let causes = [
        "leak",
        "grind_quality",
        "late_delivery",
        "billing",
        "noise",
        "missing_part",
    ];
    let mut complaints = Vec::new();
    for i in 0..700 {
        let opened = start + Days::new(rng.random_range(0..span));
        let opened_at = opened
            .and_hms_opt(rng.random_range(8..18), rng.random_range(0..60), 0)
            .expect("time");
        let product = PRODUCTS[rng.random_range(0..4)].0;
        let response = opened_at + chrono::TimeDelta::minutes(rng.random_range(20..(60 * 30)));
        let resolved: Option<NaiveDateTime> =
            (rng.random_bool(0.85)).then(|| response + chrono::TimeDelta::hours(rng.random_range(2..200)));
        let resolved = resolved.filter(|r| r.date() <= end);
        complaints.push(format!(
            "CM{i:04},{},{product},{},{},{},{}",
            accounts[rng.random_range(0..accounts.len())].0,
            causes[rng.random_range(0..causes.len())],
            opened_at.format("%Y-%m-%dT%H:%M:%S"),
            response.format("%Y-%m-%dT%H:%M:%S"),
            resolved
                .map(|r| r.format("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_default()
        ));
    }
    write_csv(
        &args.out.join("complaints.csv"),
        "complaint_id,account_id,product,cause,opened_at,first_response_at,resolved_at",
        complaints.into_iter(),
    )?;

    // Visits by the account's owner; new-product introductions get feedback.
    let activities = ["check_in", "training", "new_product_intro", "repair"];
    let mut visits = Vec::new();
    for i in 0..2600 {
        let account = &accounts[rng.random_range(0..accounts.len())];
        let when = start + Days::new(rng.random_range(0..span));
        let activity = activities[rng.random_range(0..activities.len())];
        let feedback = if activity == "new_product_intro" {
            rng.random_range(1..=5).to_string()
        } else {
            String::new()
        };
        visits.push(format!(
            "VS{i:05},{when},{},{},{activity},{feedback}",
            account.5, account.0
        ));
    }
    write_csv(
        &args.out.join("visits.csv"),
        "visit_id,visit_date,owner,account_id,activity,feedback",
        visits.into_iter(),
    )?;

    // Targets: monthly and quarterly, and monthly quotas per rep.
    let mut monthly = Vec::new();
    let mut quotas = Vec::new();
    let mut month = start;
    while month <= date((2026, 12, 1)) {
        let growth = 1.0 + 0.02 * ((month.year() - 2025) * 12 + month.month0() as i32) as f64;
        let revenue =
            (args.orders as f64 / 23.0 * 18_500.0 * (1.0 + (growth - 1.0) / 4.0) / 10_000.0).round() * 10_000.0;
        monthly.push(format!("{month},revenue,{revenue}"));
        monthly.push(format!("{month},new_accounts,12"));
        monthly.push(format!("{month},closed_deals,45"));
        monthly.push(format!(
            "{month},won_revenue,{}",
            (2_100_000.0 * growth / 10_000.0).round() * 10_000.0
        ));
        for (i, rep) in REPS.iter().enumerate() {
            quotas.push(format!("{month},{rep},{}", 300_000 + 40_000 * i as i64));
        }
        month = month.checked_add_months(chrono::Months::new(1)).expect("month");
    }
    write_csv(
        &args.out.join("targets_monthly.csv"),
        "month,kpi,target",
        monthly.into_iter(),
    )?;
    write_csv(&args.out.join("quotas.csv"), "month,owner,quota", quotas.into_iter())?;
    let mut quarterly = Vec::new();
    for year in [2025, 2026] {
        for q in 0..4 {
            quarterly.push(format!("{year}-{:02}-01,new_opportunities,{}", q * 3 + 1, 170 + 10 * q));
        }
    }
    write_csv(
        &args.out.join("targets_quarterly.csv"),
        "quarter,kpi,target",
        quarterly.into_iter(),
    )?;
    Ok(())
}

fn campaign_source(channel: &str) -> &'static str {
    match channel {
        "search" => "web",
        "social" => "social",
        "trade_show" => "trade_show",
        "email" => "email",
        _ => "partner",
    }
}

fn strings<S: AsRef<str>>(values: Vec<S>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values.iter().map(|s| s.as_ref())))
}

fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<()> {
    let mut text = String::from(header);
    text.push('\n');
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    std::fs::write(path, text)?;
    Ok(())
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    let batch = RecordBatch::try_from_iter(columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by("warroom-sample".into())
        .build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path)?, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}
