//! The latency-percentile chart, as HdrHistogram plots it: percentiles spread by their nines
//! (90 %, 99 %, 99.9 % equally apart), so that the tail is as visible as the median.

use plotters::prelude::*;

use crate::report::Report;

/// 99.999 % is as far right as the chart goes.
const MAX_NINES: f64 = 5.0;

fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(10f64.powf(-MAX_NINES));
    -rest.log10()
}

/// An SVG chart of the reports' percentile spectra, one line each.
pub fn svg(reports: &[Report]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let slowest = reports
            .iter()
            .flat_map(|r| r.percentile_spectrum.iter())
            .filter(|p| p.percentile <= 99.999)
            .map(|p| p.latency as f64 / 1e6)
            .fold(0.0, f64::max)
            .max(0.01);
        let right = reports
            .iter()
            .flat_map(|r| r.percentile_spectrum.iter())
            .map(|p| nines(p.percentile))
            .fold(1.0, f64::max)
            .min(MAX_NINES);
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency by percentile", ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..right, 0.0..slowest * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_labels(((right.ceil() as usize) + 1).max(2))
            .x_label_formatter(&|x| {
                let percentile = 100.0 * (1.0 - 10f64.powf(-x));
                format!("{percentile:.3}%").replace(".000%", "%")
            })
            .draw()
            .map_err(|e| e.to_string())?;
        for (n, report) in reports.iter().enumerate() {
            let color = Palette99::pick(n).to_rgba();
            let points: Vec<(f64, f64)> = report
                .percentile_spectrum
                .iter()
                .map(|p| (nines(p.percentile).min(right), p.latency as f64 / 1e6))
                .collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!(
                    "{} (p99 {:.2} ms)",
                    report.label(&report.options.host),
                    report.latency_at(99) as f64 / 1e6
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_spaced_by_their_nines() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), MAX_NINES);
    }
}
