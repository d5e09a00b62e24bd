//! The SVG plot: tick time and allocator calls per tick, both modes.

use std::path::Path;

use plotters::prelude::*;

use crate::{Mode, Run};

fn color(mode: Mode) -> RGBColor {
    match mode {
        Mode::Tickmem => RGBColor(0x1f, 0x77, 0xb4),
        Mode::Baseline => RGBColor(0xd6, 0x27, 0x28),
    }
}

pub(crate) fn write_svg(path: &Path, runs: &[Run]) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(360);
    let ticks = runs.iter().map(|r| r.tick_us.len()).max().unwrap_or(1);

    let max_us = runs
        .iter()
        .flat_map(|r| r.tick_us.iter().copied())
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption("bullet_hell: tick time", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0..ticks, 0.0..max_us * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("tick")
        .y_desc("microseconds")
        .draw()?;
    for r in runs {
        let c = color(r.mode);
        // Raw ticks, faint; a rolling mean over 15 ticks, bold.
        chart.draw_series(LineSeries::new(
            r.tick_us.iter().copied().enumerate(),
            c.mix(0.25).stroke_width(1),
        ))?;
        chart
            .draw_series(LineSeries::new(
                rolling_mean(&r.tick_us, 15).into_iter().enumerate(),
                c.stroke_width(2),
            ))?
            .label(format!("{} (15-tick mean)", r.mode.name()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let max_allocs = runs
        .iter()
        .flat_map(|r| r.allocs.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = ChartBuilder::on(&bottom)
        .caption("global-allocator calls per tick", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0..ticks, 0u64..max_allocs + max_allocs / 20 + 1)?;
    chart
        .configure_mesh()
        .x_desc("tick")
        .y_desc("calls")
        .draw()?;
    for r in runs {
        let c = color(r.mode);
        chart
            .draw_series(LineSeries::new(
                r.allocs.iter().copied().enumerate(),
                c.stroke_width(2),
            ))?
            .label(r.mode.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The mean of the last `window` values at each point.
fn rolling_mean(v: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    let mut sum = 0.0;
    for (i, x) in v.iter().enumerate() {
        sum += x;
        if i >= window {
            sum -= v[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}
