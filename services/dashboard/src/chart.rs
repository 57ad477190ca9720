//! Charts drawn on the server as inline SVG: no script, nothing to download, readable on a phone. Every
//! chart names itself for screen readers (`role="img"` and a `<title>`) and is always shown beside a table
//! of the same figures, which is where exact values are read.

use maud::{Markup, html};

/// One series of a chart: its legend text and its CSS class (which sets its colour).
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'static str,
}

/// One row of a bar chart: its label and one value per series.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
}

const WIDTH: f64 = 640.0;
const LABEL_WIDTH: f64 = 180.0;
const VALUE_WIDTH: f64 = 110.0;
const BAR_HEIGHT: f64 = 14.0;
const LEGEND_HEIGHT: f64 = 26.0;

/// Horizontal bars, one group per row and one bar per series, scaled to the largest value; each bar is
/// labelled with `value_text` of its value.
pub fn bars(
    id: &str,
    caption: &str,
    series: &[Series<'_>],
    rows: &[Bar],
    value_text: impl Fn(f64) -> String,
) -> Markup {
    let max = rows.iter().flat_map(|r| r.values.iter().copied()).fold(0.0_f64, f64::max);
    let group = BAR_HEIGHT * series.len() as f64 + 10.0;
    let height = LEGEND_HEIGHT + group * rows.len().max(1) as f64;
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let title_id = format!("{id}-title");
    html! {
        svg.chart #(id) role="img" aria-labelledby=(title_id) viewBox=(format!("0 0 {WIDTH} {height}"))
            preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" {
            title #(title_id) { (caption) }
            (legend(series))
            @if rows.is_empty() {
                text.empty x="0" y=(LEGEND_HEIGHT + 12.0) { "Nothing to show yet." }
            }
            @for (i, row) in rows.iter().enumerate() {
                @let top = LEGEND_HEIGHT + group * i as f64;
                text.label x=(LABEL_WIDTH - 8.0) y=(top + group / 2.0) text-anchor="end" dominant-baseline="middle" {
                    (shorten(&row.label, 22))
                }
                @for (j, (value, s)) in row.values.iter().zip(series).enumerate() {
                    @let y = top + BAR_HEIGHT * j as f64;
                    @let length = if max > 0.0 { (value / max * span).max(if *value > 0.0 { 1.0 } else { 0.0 }) } else { 0.0 };
                    rect class=(format!("bar {}", s.class)) x=(LABEL_WIDTH) y=(y) width=(format!("{length:.1}"))
                        height=(BAR_HEIGHT - 2.0) {
                        title { (s.name) ", " (row.label) ": " (value_text(*value)) }
                    }
                    text.value x=(LABEL_WIDTH + length + 4.0) y=(y + BAR_HEIGHT / 2.0) dominant-baseline="middle" {
                        (value_text(*value))
                    }
                }
            }
        }
    }
}

/// A line through `points` (label, value) at even steps from left to right, each point marked; the first
/// and last labels under the axis, the largest value beside it.
pub fn line(
    id: &str,
    caption: &str,
    series: Series<'_>,
    points: &[(String, f64)],
    value_text: impl Fn(f64) -> String,
) -> Markup {
    let (height, left, right, top, bottom) = (240.0, 90.0, WIDTH - 20.0, LEGEND_HEIGHT + 10.0, 200.0);
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let x = |i: usize| {
        if points.len() <= 1 {
            (left + right) / 2.0
        } else {
            left + (right - left) * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| if max > 0.0 { bottom - (bottom - top) * v / max } else { bottom };
    let path: Vec<String> = points.iter().enumerate().map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1))).collect();
    let title_id = format!("{id}-title");
    html! {
        svg.chart #(id) role="img" aria-labelledby=(title_id) viewBox=(format!("0 0 {WIDTH} {height}"))
            preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" {
            title #(title_id) { (caption) }
            (legend(&[series]))
            line.axis x1=(left) y1=(bottom) x2=(right) y2=(bottom) {}
            line.axis x1=(left) y1=(top) x2=(left) y2=(bottom) {}
            text.value x=(left - 6.0) y=(top) text-anchor="end" dominant-baseline="middle" { (value_text(max)) }
            text.value x=(left - 6.0) y=(bottom) text-anchor="end" dominant-baseline="middle" { (value_text(0.0)) }
            @if points.is_empty() {
                text.empty x=(left + 10.0) y=(bottom - 20.0) { "Nothing to show yet." }
            } @else {
                polyline class=(format!("line {}", series.class)) points=(path.join(" ")) {}
                @for (i, (label, value)) in points.iter().enumerate() {
                    circle class=(format!("point {}", series.class)) cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*value))) r="4" {
                        title { (label) ": " (value_text(*value)) }
                    }
                }
                text.label x=(left) y=(bottom + 18.0) text-anchor="start" { (points[0].0) }
                @if points.len() > 1 {
                    text.label x=(right) y=(bottom + 18.0) text-anchor="end" { (points[points.len() - 1].0) }
                }
            }
        }
    }
}

fn legend(series: &[Series<'_>]) -> Markup {
    html! {
        @for (i, s) in series.iter().enumerate() {
            @let x = i as f64 * 160.0;
            rect class=(format!("bar {}", s.class)) x=(x) y="4" width="12" height="12" {}
            text.legend x=(x + 18.0) y="10" dominant-baseline="middle" { (s.name) }
        }
    }
}

/// `text` cut to `max` characters with an ellipsis, so that a long label does not run into the bars.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIES: [Series<'static>; 2] =
        [Series { name: "Committed", class: "committed" }, Series { name: "Released", class: "released" }];

    #[test]
    fn bars_are_scaled_to_the_largest_value_and_labelled() {
        let rows = vec![
            Bar { label: "KH".into(), values: vec![100.0, 50.0] },
            Bar { label: "TH".into(), values: vec![200.0, 0.0] },
        ];
        let svg =
            bars("by-country", "Committed and released by country", &SERIES, &rows, |v| format!("{v}")).into_string();
        assert!(svg.contains(r#"role="img""#) && svg.contains("<title id=\"by-country-title\">"), "{svg}");
        let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
        assert!(svg.contains(&format!(r#"width="{span:.1}""#)), "the largest bar spans the chart: {svg}");
        assert!(svg.contains(&format!(r#"width="{:.1}""#, span / 2.0)), "{svg}");
        assert!(svg.contains(r#"width="0.0""#), "a zero draws no bar: {svg}");
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 2 + 4, "two legend keys and four bars");
    }

    #[test]
    fn a_line_marks_every_point_and_says_so_when_empty() {
        let points = vec![("start".to_owned(), 0.0), ("middle".to_owned(), 5.0), ("end".to_owned(), 10.0)];
        let svg = line("released", "Released over time", SERIES[1], &points, |v| format!("{v}")).into_string();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<polyline") && svg.contains(">start<") && svg.contains(">end<"), "{svg}");
        let empty = line("released", "Released over time", SERIES[1], &[], |v| format!("{v}")).into_string();
        assert!(empty.contains("Nothing to show yet.") && !empty.contains("<polyline"));
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(shorten("short", 24), "short");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
    }
}
