//! `--plot FILE.svg|FILE.png`: grouped bar chart of a run with `plotters`.
//!
//! Per pair: stock, ours and (depayloaders, when measured) the floor
//! `valve drop=true`; instructions per packet when the run counted them
//! (`--instructions`), else thread-CPU ns per packet. The ours bar carries
//! stock/ours, the floor bar ours/floor.
//!
//! Text is rasterised by plotters' pure-Rust `ab_glyph` backend from a TTF
//! read at run time (DejaVu Sans, Debian `fonts-dejavu-core`, installed by
//! scripts/install-deps.sh; `RSRTPFAST_CHART_FONT=/path/font.ttf` picks
//! another), so building needs no fontconfig or freetype.

use crate::readme::{Doc, Pair};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

use crate::number;

/// Output format, from the file name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Svg,
    Png,
}

impl Kind {
    pub fn of_path(path: &str) -> Option<Kind> {
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Kind::Svg),
            "png" => Some(Kind::Png),
            _ => None,
        }
    }
}

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 720;
/// Title, subtitle and legend rows above the plot.
const HEAD: u32 = 92;
const FONT: &str = "sans-serif";
const STOCK: RGBColor = RGBColor(0xd9, 0x53, 0x4f);
const OURS: RGBColor = RGBColor(0x2e, 0x86, 0xde);
const FLOOR: RGBColor = RGBColor(0x70, 0x70, 0x70);

/// Regular and bold DejaVu Sans: (regular, bold) candidates.
const FONT_FILES: &[(&str, &str)] = &[
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    ),
];

/// Register the font with plotters once per process.
fn register_fonts() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let (regular, bold) = match std::env::var("RSRTPFAST_CHART_FONT") {
            Ok(f) => (f.clone(), f),
            Err(_) => FONT_FILES
                .iter()
                .find(|(r, _)| Path::new(r).exists())
                .map(|(r, b)| {
                    let b = if Path::new(b).exists() { b } else { r };
                    (r.to_string(), b.to_string())
                })
                .ok_or_else(|| {
                    "no font for the chart: install fonts-dejavu-core \
                     (scripts/install-deps.sh) or set RSRTPFAST_CHART_FONT=/path/font.ttf"
                        .to_string()
                })?,
        };
        for (file, style) in [(&regular, FontStyle::Normal), (&bold, FontStyle::Bold)] {
            let bytes = std::fs::read(file).map_err(|e| format!("chart font {file}: {e}"))?;
            // plotters keeps the font for the process: leak it once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FONT, style, bytes)
                .map_err(|_| format!("chart font {file}: not a usable TrueType font"))?;
        }
        Ok(())
    })
    .clone()
}

/// One bar's value: instructions or ns per packet.
struct Bars {
    stock: Option<f64>,
    ours: Option<f64>,
    floor: Option<f64>,
}

fn bars(p: &Pair, instructions: bool) -> Bars {
    if instructions {
        let i = p.instructions_per_packet;
        Bars {
            stock: i.and_then(|i| i.stock),
            ours: i.and_then(|i| i.ours),
            floor: i.and_then(|i| i.floor),
        }
    } else {
        Bars {
            stock: p.stock.ns(),
            ours: p.ours.ns(),
            floor: p.floor.as_ref().and_then(|f| f.ns()),
        }
    }
}

/// The ratio printed on a bar, centred above it.
fn value_style(c: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, 13).into_font().style(FontStyle::Bold))
        .color(c)
        .pos(Pos::new(HPos::Center, VPos::Bottom))
}

fn quotient(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Write the chart of `doc` to `path` (SVG or PNG by extension).
pub fn write(doc: &Doc, path: &Path) -> Result<(), String> {
    let kind = Kind::of_path(&path.to_string_lossy())
        .ok_or_else(|| "the file name must end in .svg or .png".to_string())?;
    register_fonts()?;
    match kind {
        Kind::Svg => draw(
            doc,
            SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area(),
        ),
        Kind::Png => draw(
            doc,
            BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area(),
        ),
    }
}

fn draw<DB: DrawingBackend>(doc: &Doc, root: DrawingArea<DB, Shift>) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing the chart: {e}");
    let instructions = doc.has_instructions();
    let (metric, unit) = if instructions {
        (
            "instructions per RTP packet (valgrind callgrind, push loop only)",
            "instructions / packet",
        )
    } else {
        ("thread CPU ns per RTP packet", "ns / packet")
    };
    let n = doc.pairs.len().max(1);
    let max = doc
        .pairs
        .iter()
        .flat_map(|p| {
            let b = bars(p, instructions);
            [b.stock, b.ours, b.floor]
        })
        .flatten()
        .fold(1.0f64, f64::max);

    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(HEAD);
    head.draw(&Text::new(
        format!("rsrtpfast vs stock GStreamer: {metric}, lower is better"),
        (14, 10),
        (FONT, 22).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    head.draw(&Text::new(
        format!(
            "{} ({} cores) · {} · {} · MTU {} · ours at simd={}",
            doc.machine.cpu,
            doc.machine.cores,
            doc.gstreamer_version,
            doc.date,
            doc.config.mtu,
            doc.config.simd
        ),
        (14, 40),
        (FONT, 14).into_font().color(&RGBColor(0x55, 0x55, 0x55)),
    ))
    .map_err(err)?;

    let mut chart = ChartBuilder::on(&body)
        .margin_left(10)
        .margin_right(20)
        .margin_top(30)
        .margin_bottom(10)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..n as f64, 0f64..max * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .disable_x_axis()
        .x_labels(0)
        .y_desc(unit)
        .y_label_formatter(&|v| number::group(*v))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;

    let slot = 0.27;
    for (i, p) in doc.pairs.iter().enumerate() {
        let b = bars(p, instructions);
        let x0 = i as f64 + 0.095;
        let entries = [
            (b.stock, STOCK, None),
            (b.ours, OURS, quotient(b.stock, b.ours)),
            (b.floor, FLOOR, quotient(b.ours, b.floor)),
        ];
        for (k, (v, color, ratio)) in entries.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let l = x0 + k as f64 * slot;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(l, 0.0), (l + slot * 0.9, v)],
                    color.filled(),
                )))
                .map_err(err)?;
            if let Some(r) = ratio {
                let label_color = if k == 1 { OURS } else { FLOOR };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{r:.2}x"),
                        (l + slot * 0.45, v + max * 0.01),
                        value_style(&label_color),
                    )))
                    .map_err(err)?;
            }
        }
        // Pair name under its group, in pixels below the x axis.
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            p.name.clone(),
            (px, py + 8),
            TextStyle::from((FONT, 14).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
    }

    // Legend: one row under the subtitle.
    let legend = [
        (STOCK, "stock (gst-plugins-good)".to_string()),
        (OURS, "ours (rsrtpfast); label: stock / ours".to_string()),
        (
            FLOOR,
            "floor: valve drop=true (depayloaders); label: ours / floor".to_string(),
        ),
    ];
    let (mut lx, y) = (14, 66);
    for (color, text) in &legend {
        root.draw(&Rectangle::new(
            [(lx, y), (lx + 14, y + 14)],
            color.filled(),
        ))
        .map_err(err)?;
        let font = TextStyle::from((FONT, 14).into_font());
        let (w, _) = root.estimate_text_size(text, &font).map_err(err)?;
        root.draw(&Text::new(text.clone(), (lx + 20, y), font))
            .map_err(err)?;
        lx += 20 + w as i32 + 30;
    }
    root.present().map_err(err)?;
    Ok(())
}
