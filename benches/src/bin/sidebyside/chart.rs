//! The chart: ns per cycle by thread count for each contender, one panel per pool size.
//!
//! Text is drawn with plotters' `ab_glyph` renderer and DejaVu Sans loaded at run time
//! (Debian's `fonts-dejavu-core`), so no fontconfig or freetype is needed. Without the font
//! file the chart is drawn without any text.

use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn load_font() -> bool {
    for path in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(path) {
            // The font registry wants `'static` bytes; the chart is drawn once per process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// One colour per contender (21: the tables have 20 rows), so that no two lines share one.
const PALETTE: &[RGBColor] = &[
    RGBColor(0, 0, 0),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(90, 90, 200),
    RGBColor(200, 160, 0),
    RGBColor(0, 100, 100),
    RGBColor(255, 187, 120),
    RGBColor(174, 199, 232),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(60, 60, 60),
];

/// Draws the chart into a PNG at `path`; `ns(size_idx, threads_idx, contender_idx)` gives the
/// median ns per cycle.
pub fn draw(
    path: &str,
    names: &[&str],
    sizes: &[usize],
    threads: &[usize],
    ns: impl Fn(usize, usize, usize) -> f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let text = load_font();
    let root = BitMapBackend::new(path, (1500, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let (body, legend) = root.split_horizontally(1200);
    let panels = body.split_evenly((1, sizes.len()));
    let mut lo = f64::MAX;
    let mut hi: f64 = 1.0;
    for s in 0..sizes.len() {
        for t in 0..threads.len() {
            for c in 0..names.len() {
                let v = ns(s, t, c);
                if v.is_finite() && v > 0.0 {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
    }
    let y_range = (lo * 0.7).max(0.5)..hi * 1.5;
    // x is log2(threads), labelled with the thread count.
    let x_max = (*threads.iter().max().unwrap_or(&16) as f64).log2();
    for (s, panel) in panels.iter().enumerate() {
        let mut builder = ChartBuilder::on(panel);
        builder.margin(12);
        if text {
            builder
                .caption(format!("pool size {}", sizes[s]), ("sans-serif", 20))
                .x_label_area_size(36)
                .y_label_area_size(52);
        }
        let mut chart =
            builder.build_cartesian_2d(-0.3f64..x_max + 0.3, y_range.clone().log_scale())?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("threads")
                .y_desc(if s == 0 { "ns per cycle" } else { "" })
                .x_labels(12)
                .x_label_formatter(&|x| {
                    let k = x.round();
                    if (x - k).abs() < 1e-6 && k >= 0.0 {
                        format!("{}", 1u64 << (k as u32))
                    } else {
                        String::new()
                    }
                })
                .disable_x_mesh()
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style(("sans-serif", 13))
                .light_line_style(WHITE);
        } else {
            mesh.disable_x_mesh().disable_y_mesh();
        }
        mesh.draw()?;
        for (c, _) in names.iter().enumerate() {
            let color = PALETTE[c % PALETTE.len()];
            let width = if names[c].starts_with("tarn") || names[c].starts_with("floor") {
                3
            } else {
                1
            };
            let points: Vec<(f64, f64)> = threads
                .iter()
                .enumerate()
                .map(|(t, &n)| ((n as f64).log2(), ns(s, t, c)))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    if text {
        for (c, name) in names.iter().enumerate() {
            let y = 40 + 26 * c as i32;
            let color = PALETTE[c % PALETTE.len()];
            legend.draw(&PathElement::new(
                vec![(10, y), (40, y)],
                color.stroke_width(3),
            ))?;
            legend.draw(&Text::new(
                name.to_string(),
                (48, y - 8),
                ("sans-serif", 15).into_font(),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}
