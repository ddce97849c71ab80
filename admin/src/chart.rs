//! Deliveries per minute over the last day by outcome: an inline SVG of stacked columns, one
//! unit wide per minute, and its text alternative (totals, and a table by hour).

use connector_settings::admin::{DeliveryStats, MinuteCounts};
use leptos::prelude::*;

use crate::time;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const MINUTES: i64 = 24 * 60;
/// The chart's drawing height in its own units.
const HEIGHT: f64 = 100.0;

/// One coloured column piece: x (minutes from the window's start), y, height, outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub x: i64,
    pub y: f64,
    pub height: f64,
    pub outcome: &'static str,
}

/// The window's first minute for `now_ms`: 24 h back, on a minute.
pub fn window_start(now_ms: i64) -> i64 {
    (now_ms - now_ms.rem_euclid(MINUTE_MS)) - (MINUTES - 1) * MINUTE_MS
}

/// The stacked pieces of `minutes` in the window ending at `now_ms`, scaled so the
/// busiest minute fills the height; and that busiest minute's total.
pub fn pieces(minutes: &[MinuteCounts], now_ms: i64) -> (Vec<Piece>, u64) {
    let start = window_start(now_ms);
    let inside = |m: &&MinuteCounts| m.minute >= start && m.minute < start + MINUTES * MINUTE_MS;
    let peak = minutes
        .iter()
        .filter(inside)
        .map(|m| m.delivered + m.retried + m.dead)
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    if peak == 0 {
        return (out, 0);
    }
    let scale = HEIGHT / peak as f64;
    for m in minutes.iter().filter(inside) {
        let x = (m.minute - start) / MINUTE_MS;
        let mut top = HEIGHT;
        for (n, outcome) in [
            (m.delivered, "delivered"),
            (m.retried, "retried"),
            (m.dead, "dead"),
        ] {
            if n == 0 {
                continue;
            }
            let h = n as f64 * scale;
            top -= h;
            out.push(Piece {
                x,
                y: top,
                height: h,
                outcome,
            });
        }
    }
    (out, peak)
}

/// Totals by outcome over `minutes`.
pub fn totals<'a>(minutes: impl Iterator<Item = &'a MinuteCounts>) -> (u64, u64, u64) {
    minutes.fold((0, 0, 0), |t, m| {
        (t.0 + m.delivered, t.1 + m.retried, t.2 + m.dead)
    })
}

/// Totals per hour of the window, oldest first: (hour's start, delivered, retried, dead).
pub fn hours(minutes: &[MinuteCounts], now_ms: i64) -> Vec<(i64, u64, u64, u64)> {
    let start = window_start(now_ms);
    (0..24)
        .map(|h| {
            let from = start + h * HOUR_MS;
            let (d, r, x) = totals(
                minutes
                    .iter()
                    .filter(|m| m.minute >= from && m.minute < from + HOUR_MS),
            );
            (from, d, r, x)
        })
        .collect()
}

/// The chart with its text alternative, and the queue's state.
#[component]
pub fn Chart(stats: DeliveryStats, now_ms: i64) -> impl IntoView {
    let (pieces, peak) = pieces(&stats.minutes, now_ms);
    let start = window_start(now_ms);
    let (d, r, x) = totals(stats.minutes.iter().filter(|m| m.minute >= start));
    let summary = format!(
        "Last 24 hours: {d} delivered, {r} retried, {x} dead; the busiest minute had {peak} attempts."
    );
    let due = match stats.oldest_due_at {
        Some(at) => format!(
            "{} due now; the oldest due since {} ({}).",
            stats.due,
            time::absolute(at),
            time::ago(at, now_ms)
        ),
        None => format!("{} due now: nothing is waiting.", stats.due),
    };
    let rows = hours(&stats.minutes, now_ms);
    let rects = pieces
        .into_iter()
        .map(|p| {
            view! {
                <rect
                    class=format!("bar {}", p.outcome)
                    x=p.x.to_string()
                    y=format!("{:.2}", p.y)
                    width="1"
                    height=format!("{:.2}", p.height)
                ></rect>
            }
        })
        .collect_view();
    view! {
        <section class="card chart" aria-labelledby="chart-title">
            <h2 id="chart-title" class="section-title">"Deliveries per minute, last 24 hours"</h2>
            <p id="queue" class="queue" role="status">{due}</p>
            <svg
                class="chart-svg"
                role="img"
                aria-labelledby="chart-title chart-summary"
                viewBox=format!("0 0 {MINUTES} {HEIGHT}")
                preserveAspectRatio="none"
                shape-rendering="crispEdges"
            >
                <rect class="chart-bg" x="0" y="0" width=MINUTES.to_string() height=HEIGHT.to_string()></rect>
                {rects}
            </svg>
            <div class="chart-axis" aria-hidden="true">
                <span>"24 h ago"</span>
                <span>{format!("peak {peak}/min")}</span>
                <span>"now"</span>
            </div>
            <ul class="legend">
                <li><span class="swatch delivered" aria-hidden="true"></span>"Delivered"</li>
                <li><span class="swatch retried" aria-hidden="true"></span>"Retried"</li>
                <li><span class="swatch dead" aria-hidden="true"></span>"Dead"</li>
            </ul>
            <p id="chart-summary">{summary}</p>
            <details>
                <summary>"Deliveries by hour (table)"</summary>
                <table class="table">
                    <caption>"Attempts by outcome per hour, oldest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Hour from"</th>
                            <th scope="col">"Delivered"</th>
                            <th scope="col">"Retried"</th>
                            <th scope="col">"Dead"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|(from, d, r, x)| {
                                view! {
                                    <tr>
                                        <th scope="row">{time::absolute(from)}</th>
                                        <td>{d}</td>
                                        <td>{r}</td>
                                        <td>{x}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </details>
        </section>
    }
}
