//! The load client's chart: mean and p99 latency against the order
//! probability for lookups, orders and reads, one panel per cache mode, as
//! a PNG (plotters, drawn with a system TrueType font), written with a
//! 216-colour palette so the file stays small enough to keep in the repo.

use super::Phase;
use plotters::prelude::*;
use std::path::Path;

/// Fonts tried in order; the first that exists draws the text.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

fn register_font() -> anyhow::Result<()> {
    let path = FONTS
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no TrueType font found for the chart (tried {})",
                FONTS.join(", ")
            )
        })?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a font plotters can read"))?;
    Ok(())
}

const SIZE: (u32, u32) = (1400, 560);

/// Writes the chart of `phases` to `path`.
///
/// # Errors
/// When no font is found or the file cannot be written.
pub fn write(phases: &[Phase], path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let mut rgb = vec![0_u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(phases, &mut rgb)?;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    encode_indexed(&rgb, SIZE, file)?;
    Ok(())
}

/// One channel to the nearest of 0, 51, …, 255 (its index 0–5).
fn level(c: u8) -> u8 {
    ((u16::from(c) + 25) / 51) as u8
}

/// Writes RGB pixels as an 8-bit indexed PNG on the 6×6×6 colour cube.
fn encode_indexed(rgb: &[u8], size: (u32, u32), out: impl std::io::Write) -> anyhow::Result<()> {
    let palette: Vec<u8> = (0..216_u16)
        .flat_map(|i| [i / 36, i / 6 % 6, i % 6].map(|l| (l * 51) as u8))
        .collect();
    let indices: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| level(p[0]) * 36 + level(p[1]) * 6 + level(p[2]))
        .collect();
    let mut encoder = png::Encoder::new(out, size.0, size.1);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&indices)?;
    writer.finish()?;
    Ok(())
}

fn draw(phases: &[Phase], rgb: &mut [u8]) -> anyhow::Result<()> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "tickpulse paper trading: latency against order probability",
        ("sans-serif", 22),
    )?;
    let modes: Vec<bool> = {
        let mut m: Vec<bool> = phases.iter().map(|p| p.cache).collect();
        m.dedup();
        m.sort_unstable_by(|a, b| b.cmp(a));
        m.dedup();
        m
    };
    let panels = root.split_evenly((1, modes.len().max(1)));
    let top = phases
        .iter()
        .flat_map(|p| [p.lookups.p99_ms, p.orders.p99_ms, p.reads.p99_ms])
        .fold(1.0_f64, f64::max)
        * 1.1;
    // A phase without requests of a kind (no orders at p = 0) has no point.
    let kinds: [(&str, fn(&Phase) -> Option<(f64, f64)>, RGBColor); 3] = [
        (
            "lookups",
            |p| (p.lookups.count > 0).then_some((p.lookups.mean_ms, p.lookups.p99_ms)),
            RGBColor(47, 111, 237),
        ),
        (
            "orders",
            |p| (p.orders.count > 0).then_some((p.orders.mean_ms, p.orders.p99_ms)),
            RGBColor(198, 40, 40),
        ),
        (
            "reads",
            |p| (p.reads.count > 0).then_some((p.reads.mean_ms, p.reads.p99_ms)),
            RGBColor(10, 127, 63),
        ),
    ];
    for (panel, cache) in panels.iter().zip(&modes) {
        let mine: Vec<&Phase> = phases.iter().filter(|p| p.cache == *cache).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("stock cache {}", if *cache { "on" } else { "off" }),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0_f64..1.0_f64, 0.0_f64..top)?;
        chart
            .configure_mesh()
            .x_desc("probability of an order per session round")
            .y_desc("latency (ms)")
            .label_style(("sans-serif", 13))
            .draw()?;
        for (name, pick, color) in kinds {
            let points: Vec<(f64, (f64, f64))> = mine
                .iter()
                .filter_map(|p| pick(p).map(|v| (p.probability, v)))
                .collect();
            let mean: Vec<(f64, f64)> = points.iter().map(|(x, (m, _))| (*x, *m)).collect();
            let p99: Vec<(f64, f64)> = points.iter().map(|(x, (_, q))| (*x, *q)).collect();
            chart
                .draw_series(LineSeries::new(mean.clone(), color.stroke_width(2)))?
                .label(format!("{name} mean"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(mean.iter().map(|&xy| Circle::new(xy, 3, color.filled())))?;
            let dashed = color.mix(0.55);
            chart
                .draw_series(LineSeries::new(p99.clone(), dashed.stroke_width(2)))?
                .label(format!("{name} p99"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], dashed.stroke_width(2))
                });
            chart.draw_series(
                p99.iter()
                    .map(|&xy| TriangleMarker::new(xy, 4, dashed.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
