//! RTP header extensions, as both base classes handle them: the
//! `request-extension` / `add-extension` / `clear-extensions` signals of
//! GstRTPBasePayload / GstRTPBaseDepayload, and reconciling the `extmap-N`
//! fields of caps with the extensions in use.

use gst::glib;
use gst::prelude::*;
use gst_rtp::prelude::*;
use std::ops::ControlFlow;

pub type Ext = gst_rtp::RTPHeaderExtension;

/// The three signals, with the element's handlers (the element is passed
/// as a `gst::Element`; each base downcasts to itself).
pub fn signals(
    request_default: fn(&gst::Element, u32, Option<&str>) -> Option<Ext>,
    add: fn(&gst::Element, Ext),
    clear: fn(&gst::Element),
) -> Vec<glib::subclass::Signal> {
    let element = |args: &[glib::Value]| args[0].get::<gst::Element>().unwrap();
    vec![
        glib::subclass::Signal::builder("request-extension")
            .param_types([u32::static_type(), String::static_type()])
            .return_type::<Ext>()
            .run_last()
            .accumulator(|_hint, acc, value| {
                // The first handler that returns an extension wins.
                match value.get::<Option<Ext>>() {
                    Ok(Some(_)) => ControlFlow::Break(value.clone()),
                    _ => ControlFlow::Continue(acc),
                }
            })
            .class_handler(move |args| {
                let id = args[1].get::<u32>().unwrap();
                let uri = args[2].get::<Option<String>>().ok().flatten();
                Some(request_default(&element(args), id, uri.as_deref()).to_value())
            })
            .build(),
        glib::subclass::Signal::builder("add-extension")
            .param_types([Ext::static_type()])
            .run_last()
            .action()
            .class_handler(move |args| {
                match args[1].get::<Ext>() {
                    Ok(ext) if ext.id() > 0 => add(&element(args), ext),
                    _ => glib::g_critical!("rsrtpfast", "add-extension: an extension with an id"),
                }
                None
            })
            .build(),
        glib::subclass::Signal::builder("clear-extensions")
            .run_last()
            .action()
            .class_handler(move |args| {
                clear(&element(args));
                None
            })
            .build(),
    ]
}

/// `request-extension`'s default handler: GStreamer's implementation of
/// `uri` with `id`, when `auto-header-extension` is on.
pub fn create_for_uri(auto: bool, id: u32, uri: Option<&str>) -> Option<Ext> {
    if !auto {
        return None;
    }
    let ext = Ext::create_from_uri(uri?)?;
    ext.set_id(id);
    Some(ext)
}

/// The extensions to use after `caps` (structure 0): for every `extmap-N`
/// field, the extension in use with that id and URI (its attributes re-read
/// from the caps), else one replacing a different URI with that id, asked
/// for through `request-extension` (none: the field is skipped). Extensions
/// the caps do not name are kept, as the stock base classes keep them.
/// Err: why the caps cannot be used.
pub fn reconcile(
    element: &gst::Element,
    current: &[Ext],
    caps: &gst::Caps,
) -> Result<Vec<Ext>, String> {
    let Some(s) = caps.structure(0) else {
        return Ok(current.to_vec());
    };
    let mut exts = current.to_vec();
    for (field, value) in s.iter() {
        let Some(id) = field.strip_prefix("extmap-") else {
            continue;
        };
        let id: u32 = id
            .parse()
            .map_err(|_| format!("could not parse the id of {field}"))?;
        // A URI, or (direction, URI, attributes).
        let uri = value
            .get::<String>()
            .ok()
            .or_else(|| {
                value
                    .get::<gst::ArrayRef>()
                    .ok()?
                    .get(1)?
                    .get::<String>()
                    .ok()
            })
            .ok_or_else(|| format!("no extmap URI in {field}"))?;
        let rejected = |ext: &Ext| {
            format!(
                "extension {} rejected the attributes in {field}",
                ext.name()
            )
        };
        if let Some(at) = exts.iter().position(|e| e.id() == id) {
            if exts[at].uri().as_deref() == Some(uri.as_str()) {
                if !exts[at].set_attributes_from_caps(caps) {
                    return Err(rejected(&exts[at]));
                }
                continue;
            }
            exts.remove(at);
        }
        let Some(ext) = element.emit_by_name::<Option<Ext>>("request-extension", &[&id, &uri])
        else {
            continue;
        };
        if ext.id() != id {
            glib::g_warning!(
                "rsrtpfast",
                "'request-extension' signal provided an rtp header extension for uri '{uri}' \
                 that does not match the requested extension id {id}"
            );
            continue;
        }
        if !ext.set_attributes_from_caps(caps) {
            return Err(rejected(&ext));
        }
        exts.push(ext);
    }
    Ok(exts)
}
