//! The dashboard's calls-per-day chart as inline SVG, drawn on the server: one stacked bar per
//! day (`g.day`, a `rect[data-outcome]` per outcome with calls), a y axis with whole-number
//! ticks, the dates under the bars and a legend. Colours are presentation attributes (the CSP
//! allows no inline style); every text goes through `escape`.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::super::backend::DayCalls;
use super::super::html::escape;

const WIDTH: f64 = 560.0;
const LEFT: f64 = 32.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const PLOT_HEIGHT: f64 = 150.0;
const DATE_ROW: f64 = 20.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_ITEM: f64 = 104.0;

/// Outcomes in the order they stack (bottom first), with their colours.
const KNOWN: &[(&str, &str)] = &[
    ("job", "#2f6fb3"),
    ("lead", "#3a9d5d"),
    ("callback", "#d98b1f"),
    ("voicemail", "#8e5bb5"),
    ("none", "#8a939c"),
];
/// Colours for outcomes not in [`KNOWN`], in turn.
const EXTRA: &[&str] = &["#c0392b", "#1f9e9e", "#a3881c", "#6b4f2a", "#d35f9b"];

/// The chart for `days` (oldest first).
pub fn calls_chart(days: &[DayCalls]) -> String {
    let outcomes = outcome_order(days);
    let axis_max = axis_max(days);
    let legend_rows = legend_rows(outcomes.len());
    let height = TOP + PLOT_HEIGHT + DATE_ROW + legend_rows as f64 * LEGEND_ROW + 4.0;
    let mut svg = format!(
        "<svg id=\"calls-chart\" class=\"chart\" role=\"img\" viewBox=\"0 0 {WIDTH} {height}\" \
         aria-labelledby=\"calls-chart-title calls-chart-desc\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title id=\"calls-chart-title\">Calls per day, last {n} days, by outcome</title>\n\
         <desc id=\"calls-chart-desc\">{desc}</desc>\n",
        n = days.len(),
        desc = escape(&description(days)),
    );
    svg.push_str(&axis(axis_max));
    let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    for (i, day) in days.iter().enumerate() {
        svg.push_str(&day_bar(day, i, slot, axis_max, &outcomes));
    }
    if days.iter().all(|d| total(d) == 0) {
        let _ = writeln!(
            svg,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">No calls in these days</text>",
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            TOP + PLOT_HEIGHT / 2.0
        );
    }
    svg.push_str(&legend(&outcomes, TOP + PLOT_HEIGHT + DATE_ROW));
    svg.push_str("</svg>\n");
    svg
}

/// Known outcomes first (in their order), then the others alphabetically; each with a colour.
fn outcome_order(days: &[DayCalls]) -> Vec<(String, &'static str)> {
    let present: BTreeSet<&str> = days
        .iter()
        .flat_map(|d| d.by_outcome.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(o, _)| o.as_str())
        .collect();
    let known = KNOWN
        .iter()
        .filter(|(name, _)| present.contains(name))
        .map(|(name, colour)| (name.to_string(), *colour));
    let others = present
        .iter()
        .filter(|o| !KNOWN.iter().any(|(k, _)| k == *o))
        .zip(EXTRA.iter().cycle())
        .map(|(o, colour)| (o.to_string(), *colour));
    known.chain(others).collect()
}

fn total(day: &DayCalls) -> u64 {
    day.by_outcome.values().map(|n| u64::from(*n)).sum()
}

/// The top of the y axis: the busiest day rounded up to a multiple of a 1-2-5 step, at most
/// four steps.
fn axis_max(days: &[DayCalls]) -> u64 {
    let busiest = days.iter().map(total).max().unwrap_or(0).max(1);
    let step = tick_step(busiest);
    busiest.div_ceil(step) * step
}

fn tick_step(max: u64) -> u64 {
    let mut magnitude = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            if max.div_ceil(step) <= 4 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

fn y_of(count: u64, axis_max: u64) -> f64 {
    TOP + PLOT_HEIGHT - count as f64 / axis_max as f64 * PLOT_HEIGHT
}

fn axis(axis_max: u64) -> String {
    let step = tick_step(axis_max);
    let mut out = String::from("<g class=\"axis\">\n");
    let mut tick = 0;
    while tick <= axis_max {
        let y = y_of(tick, axis_max);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d5dbe1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0
        );
        tick += step;
    }
    out.push_str("</g>\n");
    out
}

fn day_bar(
    day: &DayCalls,
    index: usize,
    slot: f64,
    axis_max: u64,
    outcomes: &[(String, &str)],
) -> String {
    let bar = slot * 0.7;
    let x = LEFT + index as f64 * slot + (slot - bar) / 2.0;
    let mut out = format!(
        "<g class=\"day\" data-date=\"{}\" data-total=\"{}\">\n",
        escape(&day.date),
        total(day)
    );
    let mut below = 0u64;
    for (outcome, colour) in outcomes {
        let count = u64::from(day.by_outcome.get(outcome).copied().unwrap_or(0));
        if count == 0 {
            continue;
        }
        let (top, bottom) = (y_of(below + count, axis_max), y_of(below, axis_max));
        let _ = writeln!(
            out,
            "<rect data-outcome=\"{o}\" data-count=\"{count}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" \
             height=\"{h:.1}\" fill=\"{colour}\"><title>{d}: {count} {o}</title></rect>",
            o = escape(outcome),
            d = escape(&day.date),
            h = bottom - top,
        );
        below += count;
    }
    let _ = writeln!(
        out,
        "<text class=\"date\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n</g>",
        x + bar / 2.0,
        TOP + PLOT_HEIGHT + 14.0,
        escape(short_date(&day.date))
    );
    out
}

/// `2026-12-04` → `12-04` (other text as it is).
fn short_date(date: &str) -> &str {
    match date.split_once('-') {
        Some((year, rest)) if year.len() == 4 && rest.len() == 5 => rest,
        _ => date,
    }
}

fn legend_rows(items: usize) -> usize {
    let per_row = ((WIDTH - LEFT) / LEGEND_ITEM).floor().max(1.0) as usize;
    items.div_ceil(per_row).max(1)
}

fn legend(outcomes: &[(String, &str)], top: f64) -> String {
    let per_row = ((WIDTH - LEFT) / LEGEND_ITEM).floor().max(1.0) as usize;
    let mut out = String::from("<g class=\"legend\">\n");
    for (i, (outcome, colour)) in outcomes.iter().enumerate() {
        let x = LEFT + (i % per_row) as f64 * LEGEND_ITEM;
        let y = top + (i / per_row) as f64 * LEGEND_ROW;
        let _ = writeln!(
            out,
            "<g class=\"legend-item\" data-outcome=\"{o}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"12\" \
             height=\"12\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{o}</text></g>",
            x + 16.0,
            y + 10.5,
            o = escape(outcome),
        );
    }
    out.push_str("</g>\n");
    out
}

/// The chart in words, for screen readers.
fn description(days: &[DayCalls]) -> String {
    days.iter()
        .map(|day| {
            let parts: Vec<String> = day
                .by_outcome
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(o, n)| format!("{n} {o}"))
                .collect();
            match parts.is_empty() {
                true => format!("{}: no calls", day.date),
                false => format!("{}: {}", day.date, parts.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn day(date: &str, counts: &[(&str, u32)]) -> DayCalls {
        DayCalls {
            date: date.to_string(),
            by_outcome: counts
                .iter()
                .map(|(o, n)| (o.to_string(), *n))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn fortnight() -> Vec<DayCalls> {
        (1..=14)
            .map(|d| {
                let date = format!("2026-11-{d:02}");
                match d {
                    3 => day(&date, &[("job", 2), ("lead", 1), ("voicemail", 3)]),
                    14 => day(&date, &[("job", 1), ("spam", 2)]),
                    _ => day(&date, &[]),
                }
            })
            .collect()
    }

    /// The number after `name="` in `text`.
    fn attr(text: &str, name: &str) -> f64 {
        let start = text.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + text[start..].find('"').unwrap();
        text[start..end].parse().unwrap()
    }

    #[test]
    fn one_group_per_day_and_one_bar_per_outcome_with_calls() {
        let svg = calls_chart(&fortnight());
        assert!(svg.starts_with("<svg id=\"calls-chart\""));
        assert_eq!(svg.matches("<g class=\"day\"").count(), 14);
        assert_eq!(svg.matches("<rect data-outcome=").count(), 5);
        assert!(svg.contains("<title id=\"calls-chart-title\">Calls per day, last 14 days"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("2026-11-03: 2 job, 1 lead, 3 voicemail"));
        assert!(svg.contains(">11-14</text>"));
        for outcome in ["job", "lead", "voicemail", "spam"] {
            assert!(
                svg.contains(&format!("class=\"legend-item\" data-outcome=\"{outcome}\"")),
                "{outcome} in the legend"
            );
        }
        assert!(!svg.contains("data-outcome=\"callback\""), "no empty bars");
    }

    #[test]
    fn bars_stack_in_proportion_to_the_axis() {
        let svg = calls_chart(&fortnight());
        // Busiest day: 6 calls → axis 0..6 in steps of 2; 150 px tall plot.
        assert!(svg.contains(">6</text>") && svg.contains(">4</text>"));
        assert!(!svg.contains(">8</text>") && !svg.contains(">3</text>"));
        let day3 = &svg[svg.find("data-date=\"2026-11-03\"").unwrap()..];
        let job = &day3[day3.find("data-outcome=\"job\"").unwrap()..];
        let lead = &day3[day3.find("data-outcome=\"lead\"").unwrap()..];
        let voicemail = &day3[day3.find("data-outcome=\"voicemail\"").unwrap()..];
        let near = |got: f64, want: f64| assert!((got - want).abs() < 0.06, "{got} vs {want}");
        near(attr(job, "height"), 50.0);
        near(attr(lead, "height"), 25.0);
        near(attr(voicemail, "height"), 75.0);
        // Jobs at the bottom, the next outcome on top of them.
        assert_eq!(attr(job, "y") + attr(job, "height"), TOP + PLOT_HEIGHT);
        assert!((attr(lead, "y") + attr(lead, "height") - attr(job, "y")).abs() < 0.11);
    }

    #[test]
    fn ticks_are_whole_numbers_in_few_steps() {
        assert_eq!(tick_step(1), 1);
        assert_eq!(tick_step(4), 1);
        assert_eq!(tick_step(6), 2);
        assert_eq!(tick_step(17), 5);
        assert_eq!(tick_step(230), 100);
        assert_eq!(
            axis_max(&[day("d", &[("job", 17)])]),
            20,
            "17 calls → axis to 20"
        );
    }

    #[test]
    fn an_empty_fortnight_still_draws_and_says_so() {
        let days: Vec<DayCalls> = (1..=14)
            .map(|d| day(&format!("2026-11-{d:02}"), &[]))
            .collect();
        let svg = calls_chart(&days);
        assert_eq!(svg.matches("<g class=\"day\"").count(), 14);
        assert!(svg.contains("No calls in these days"));
        assert!(!svg.contains("<rect data-outcome"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn hostile_outcome_names_and_dates_are_inert() {
        let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let svg = calls_chart(&[day(hostile, &[(hostile, 3)])]);
        assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
    }
}
