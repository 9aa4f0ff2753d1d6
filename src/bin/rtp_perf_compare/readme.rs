//! `--readme`: the README's performance figures, generated from a run's
//! `--format json` document so that no number there is typed by hand.
//!
//! The document is read back with serde derive (`Doc`, only the fields
//! used here). The README marks each generated region with
//! `<!-- perf-report:begin NAME -->` ... `<!-- perf-report:end NAME -->`
//! (each marker on its own line); `update` rewrites what is between the two
//! marker lines and leaves every other byte of the file as it was.
//! Regions: `table` (how it was measured, the per-pair table, 1080p60
//! streams per core) and `resident` (memory per stream, the chart).

use serde::Deserialize;
use std::fmt::Write as _;

use crate::number::group;

/// The parts of an `rtp_perf_compare --format json` document used here.
#[derive(Deserialize, Debug, Clone)]
pub struct Doc {
    pub tool: String,
    pub date: String,
    pub command_line: String,
    pub gstreamer_version: String,
    pub machine: Machine,
    pub config: Config,
    pub pairs: Vec<Pair>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: u64,
    pub arch: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Config {
    pub simd: String,
    pub mtu: u32,
    pub rounds: u64,
    pub frames: u64,
    pub rss_streams: u64,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Pair {
    pub name: String,
    pub kind: String,
    pub media: String,
    pub input_frames: u64,
    pub repeat: u64,
    pub stock: Contender,
    pub ours: Contender,
    pub floor: Option<Contender>,
    pub ratio_stock_over_ours: Option<Mean>,
    pub instructions_per_packet: Option<Instr>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Contender {
    pub ns_per_packet: Option<Mean>,
    pub allocs_per_packet: Option<f64>,
    pub packets_per_round: Option<u64>,
    pub bytes_per_round: Option<u64>,
    pub resident_kb_per_stream_over_identity: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
pub struct Mean {
    pub mean: f64,
}

#[derive(Deserialize, Debug, Clone, Copy)]
pub struct Instr {
    pub stock: Option<f64>,
    pub ours: Option<f64>,
    pub floor: Option<f64>,
    pub identity: Option<f64>,
    pub stock_over_ours: Option<f64>,
    pub ours_over_floor: Option<f64>,
}

impl Doc {
    pub fn parse(text: &str) -> Result<Doc, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Doc::from_value(v)
    }

    pub fn from_value(v: serde_json::Value) -> Result<Doc, String> {
        let doc: Doc = serde_json::from_value(v)
            .map_err(|e| format!("not an rtp_perf_compare --format json document: {e}"))?;
        if doc.tool != "rtp_perf_compare" {
            return Err(format!("written by {:?}, not rtp_perf_compare", doc.tool));
        }
        Ok(doc)
    }

    /// Whether instructions were counted (`--instructions`).
    pub fn has_instructions(&self) -> bool {
        self.pairs
            .iter()
            .any(|p| p.instructions_per_packet.is_some())
    }
}

impl Contender {
    pub fn ns(&self) -> Option<f64> {
        self.ns_per_packet.map(|m| m.mean)
    }
}

impl Pair {
    pub fn is_depay(&self) -> bool {
        self.kind == "depay"
    }

    fn instr(&self) -> Instr {
        self.instructions_per_packet.unwrap_or(Instr {
            stock: None,
            ours: None,
            floor: None,
            identity: None,
            stock_over_ours: None,
            ours_over_floor: None,
        })
    }

    /// Input frames pushed per round (frames x repeat).
    fn frames_per_round(&self) -> u64 {
        (self.input_frames * self.repeat).max(1)
    }
}

// ------------------------------------------------------------- regions ----

const BEGIN: &str = "<!-- perf-report:begin ";
const END: &str = "<!-- perf-report:end ";
const CLOSE: &str = " -->";

/// The marker on this line, if it is one: (is_begin, name).
fn marker(line: &str) -> Option<(bool, &str)> {
    let line = line.trim_end_matches(['\n', '\r']).trim();
    let (begin, rest) = if let Some(r) = line.strip_prefix(BEGIN) {
        (true, r)
    } else {
        (false, line.strip_prefix(END)?)
    };
    let name = rest.strip_suffix(CLOSE)?.trim();
    (!name.is_empty()).then_some((begin, name))
}

/// `text` with the lines between each begin/end marker pair replaced by
/// `render(name)`; the marker lines and everything outside stay as they
/// are. Errors: no region, an unclosed, unopened or nested region, a name
/// used twice, or whatever `render` refuses.
pub fn replace_regions(
    text: &str,
    mut render: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<&str> = None;
    let mut seen: Vec<String> = Vec::new();
    for (no, line) in text.split_inclusive('\n').enumerate() {
        match (marker(line), open) {
            (Some((true, name)), None) => {
                if seen.iter().any(|s| s == name) {
                    return Err(format!("line {}: region {name:?} appears twice", no + 1));
                }
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                let mut body = render(name)?;
                if !body.is_empty() && !body.ends_with('\n') {
                    body.push('\n');
                }
                out.push_str(&body);
                seen.push(name.to_string());
                open = Some(name);
            }
            (Some((true, name)), Some(o)) => {
                return Err(format!(
                    "line {}: region {name:?} begins inside region {o:?}",
                    no + 1
                ))
            }
            (Some((false, name)), Some(o)) if name == o => {
                out.push_str(line);
                open = None;
            }
            (Some((false, name)), _) => {
                return Err(format!(
                    "line {}: end of region {name:?} that is not open",
                    no + 1
                ))
            }
            (None, Some(_)) => {} // old generated text: dropped
            (None, None) => out.push_str(line),
        }
    }
    if let Some(o) = open {
        return Err(format!("region {o:?} has no `{END}{o}{CLOSE}`"));
    }
    if seen.is_empty() {
        return Err(format!("no `{BEGIN}NAME{CLOSE}` markers"));
    }
    Ok(out)
}

/// The README text with its perf-report regions regenerated from `doc`;
/// `chart` is the image path the `resident` region links.
pub fn update(text: &str, doc: &Doc, chart: Option<&str>) -> Result<String, String> {
    replace_regions(text, |name| match name {
        "table" => Ok(table_region(doc)),
        "resident" => Ok(resident_region(doc, chart)),
        other => Err(format!(
            "unknown perf-report region {other:?} (known: table, resident)"
        )),
    })
}

// ------------------------------------------------------------ sections ----

const DASH: &str = "–";

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| DASH.to_string())
}

fn ratio(v: Option<f64>) -> String {
    opt(v, |r| format!("{r:.2}x"))
}

fn bold(s: String) -> String {
    if s == DASH {
        s
    } else {
        format!("**{s}**")
    }
}

/// The command that made the document, without the program path and the
/// output format (the Makefile adds those).
fn run_args(doc: &Doc) -> String {
    let mut words = doc.command_line.split_whitespace().skip(1).peekable();
    let mut kept = Vec::new();
    while let Some(w) = words.next() {
        if w == "--format" {
            words.next();
        } else if !w.starts_with("--format=") {
            kept.push(w);
        }
    }
    kept.join(" ")
}

/// `text` re-flowed to lines of at most `WRAP` columns (longer words stay
/// whole), like the hand-written paragraphs around it.
fn wrap(text: &str) -> String {
    const WRAP: usize = 76;
    let mut out = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if len > 0 && len + 1 + w > WRAP {
            out.push('\n');
            len = 0;
        } else if len > 0 {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += w;
    }
    out.push('\n');
    out
}

/// Signed KB with one decimal and thousands separators: "+5,187.5".
fn signed_kb(v: f64) -> String {
    let tenths = (v.abs() * 10.0).round();
    let sign = if v < 0.0 && tenths > 0.0 { '-' } else { '+' };
    format!(
        "{sign}{}.{}",
        group((tenths / 10.0).trunc()),
        tenths as u64 % 10
    )
}

const GENERATED: &str = "<!-- generated by `make perf-report` (rtp_perf_compare --readme) \
    from docs/perf.json: change the generator, not this text -->";

fn table_region(doc: &Doc) -> String {
    let c = &doc.config;
    let mut s = String::new();
    let _ = writeln!(s, "{GENERATED}");
    let mut media: Vec<&str> = Vec::new();
    for p in &doc.pairs {
        if !media.contains(&p.media.as_str()) {
            media.push(&p.media);
        }
    }
    let frames = if c.frames > 0 {
        format!("up to {} buffers of each", c.frames)
    } else {
        "all buffers of each".to_string()
    };
    let mut intro = format!(
        "Measured with `rtp_perf_compare` on {} ({} cores, {}), {}, {}, in one run: \
         stock and ours interleaved over {} rounds in alternating order; input: {}; {frames}, \
         MTU {}, pushed pad-to-pad with no queues, ours at SIMD level {}. ",
        doc.machine.cpu,
        doc.machine.cores,
        doc.machine.arch,
        doc.gstreamer_version,
        doc.date,
        c.rounds,
        media.join("; "),
        c.mtu,
        c.simd,
    );
    if doc.has_instructions() {
        intro.push_str(
            "Instructions are counted under valgrind callgrind (push loop only, see below); ",
        );
    }
    intro.push_str(
        "time is thread CPU per RTP packet (times on a shared machine move 20–50% between \
         runs, instruction counts do not); allocations are malloc calls per packet with \
         `G_SLICE=always-malloc`. For depayloaders `valve drop=true` fed the same packets is \
         the floor (one push in, nothing out); `identity` (one push in, one out) is what any \
         element that outputs one buffer per packet pays at least — the audio, MP2T and (per \
         line-packet) raw video depayloaders do.",
    );
    s.push_str(&wrap(&intro));
    s.push('\n');
    let _ = writeln!(
        s,
        "    make perf-report    # rtp_perf_compare {}\n",
        run_args(doc)
    );
    s.push_str(
        "| pair | instr/packet stock | ours | valve floor | identity | stock/ours | ours/floor \
         | ns/packet stock | ours | stock/ours (time) | allocs/packet stock / ours |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in &doc.pairs {
        let i = p.instr();
        let (so, of) = (ratio(i.stock_over_ours), ratio(i.ours_over_floor));
        let (so, of) = if p.is_depay() {
            (so, bold(of))
        } else {
            (bold(so), of)
        };
        let allocs = match (p.stock.allocs_per_packet, p.ours.allocs_per_packet) {
            (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
            _ => DASH.to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {so} | {of} | {} | {} | {} | {allocs} |",
            p.name,
            opt(i.stock, group),
            opt(i.ours, group),
            opt(i.floor, group),
            opt(i.identity, group),
            opt(p.stock.ns(), |v| format!("{v:.1}")),
            opt(p.ours.ns(), |v| format!("{v:.1}")),
            ratio(p.ratio_stock_over_ours.map(|r| r.mean)),
        );
    }
    if let Some(text) = vraw_streams(doc) {
        s.push('\n');
        s.push_str(&wrap(&text));
    }
    s
}

/// Streams per core of 1080p60 raw video, from the vraw pairs' times.
fn vraw_streams(doc: &Doc) -> Option<String> {
    let pay = doc.pairs.iter().find(|p| p.name == "vrawpay")?;
    let depay = doc.pairs.iter().find(|p| p.name == "vrawdepay")?;
    const FPS: f64 = 60.0;
    let pay_pkts = pay.ours.packets_per_round? as f64 / pay.frames_per_round() as f64;
    let pay_bytes = pay.ours.bytes_per_round? as f64 / pay.frames_per_round() as f64;
    // Depayloader input: the stock payloader's packets (packets in per round).
    let depay_pkts = depay.ours.packets_per_round? as f64 / depay.frames_per_round() as f64;
    // CPU ms per stream-second and streams per core at `ns` per packet.
    let per_core = |ns: f64, pkts: f64| {
        let ms = ns * pkts * FPS / 1e6;
        (ms, 1000.0 / ms)
    };
    let (po_ms, po_n) = per_core(pay.ours.ns()?, pay_pkts);
    let (_, ps_n) = per_core(pay.stock.ns()?, pay_pkts);
    let (do_ms, do_n) = per_core(depay.ours.ns()?, depay_pkts);
    let (_, ds_n) = per_core(depay.stock.ns()?, depay_pkts);
    Some(format!(
        "**1080p60 10-bit 4:2:2 (UYVP, ≈{:.1} Gbit/s as RTP) per core**, from the times \
         above: at MTU {} a frame is ~{} packets (~{} packets/s per stream). Payloading, \
         ours {:.1} ns/packet is ~{po_ms:.0} ms of CPU per stream-second, **~{po_n:.0} \
         streams per core** (stock {:.1} ns: ~{ps_n:.0}). Depayloading (stock's packets, ~{} \
         per frame), ours {:.1} ns is ~{do_ms:.0} ms per stream-second, **~{do_n:.0} streams \
         per core** (stock {:.1} ns: ~{ds_n:.0}). Output and NIC costs not included.\n",
        pay_bytes * 8.0 * FPS / 1e9,
        doc.config.mtu,
        group(pay_pkts),
        group(pay_pkts * FPS),
        pay.ours.ns()?,
        pay.stock.ns()?,
        group(depay_pkts),
        depay.ours.ns()?,
        depay.stock.ns()?,
    ))
}

fn resident_region(doc: &Doc, chart: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{GENERATED}");
    let rows: Vec<&Pair> = doc
        .pairs
        .iter()
        .filter(|p| {
            p.stock.resident_kb_per_stream_over_identity.is_some()
                || p.ours.resident_kb_per_stream_over_identity.is_some()
        })
        .collect();
    if rows.is_empty() {
        s.push_str("Resident memory per stream was not measured in this run (`--streams 0`).\n");
    } else {
        let n = doc.config.rss_streams;
        s.push_str(&wrap(&format!(
            "Resident memory per extra stream (`--streams {n}`: RSS growth over {n} more \
             instances while one stays running, each negotiated and fed the first buffer's \
             worth of input — for video the first 1080p access unit; an `identity` stream fed \
             the same is subtracted; RSS grows in 4 KiB pages, so fewer streams give a \
             coarser figure, and it moves by ~0.2 KB between runs):"
        )));
        s.push('\n');
        s.push_str("| element | KB over identity, stock | ours |\n|---|---|---|\n");
        let kb = |c: &Contender| opt(c.resident_kb_per_stream_over_identity, signed_kb);
        for p in rows {
            let _ = writeln!(s, "| {} | {} | {} |", p.name, kb(&p.stock), kb(&p.ours));
        }
    }
    if let Some(c) = chart {
        let _ = write!(s, "\n![rtp_perf_compare chart]({c})\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_kb_groups_and_signs() {
        assert_eq!(signed_kb(5187.46), "+5,187.5");
        assert_eq!(signed_kb(0.7), "+0.7");
        assert_eq!(signed_kb(-1.26), "-1.3");
        assert_eq!(signed_kb(-0.04), "+0.0");
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let text = "word ".repeat(40)
            + "averyveryverylongwordthatdoesnotfitanywhereatallbutstaysinonepiece_123456789";
        let out = wrap(&text);
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
        for line in out.lines() {
            assert!(
                line.chars().count() <= 76 || !line.contains(' '),
                "{line:?}"
            );
        }
        assert!(out.ends_with('\n'));
    }
}
