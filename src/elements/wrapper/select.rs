//! Which element a wrapper bin holds for given caps: a registered rsrtpfast
//! element (factory name `rtpfast…`) whose sink template can take the caps,
//! else the best stock (de)payloader for them by rank. Found through the
//! registry every time, so formats added later are picked up without a list
//! here.

use gst::prelude::*;

/// Which side of RTP the wrapper is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pay,
    Depay,
}

impl Role {
    fn factory_type(self) -> gst::ElementFactoryType {
        match self {
            Role::Pay => gst::ElementFactoryType::PAYLOADER,
            Role::Depay => gst::ElementFactoryType::DEPAYLOADER,
        }
    }

    /// "payloader" / "depayloader", for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Role::Pay => "payloader",
            Role::Depay => "depayloader",
        }
    }
}

/// The wrappers themselves: never chosen as their own child.
pub const WRAPPERS: [&str; 2] = ["rtpfastpay", "rtpfastdepay"];

/// Our own elements are named `rtpfast<format>pay/depay`.
pub fn is_native(factory_name: &str) -> bool {
    factory_name.starts_with("rtpfast") && !WRAPPERS.contains(&factory_name)
}

/// The chosen factory and whether it is one of ours.
#[derive(Debug, Clone)]
pub struct Choice {
    pub factory: gst::ElementFactory,
    pub native: bool,
}

fn sink_template_caps(factory: &gst::ElementFactory) -> Vec<gst::Caps> {
    factory
        .static_pad_templates()
        .iter()
        .filter(|t| t.direction() == gst::PadDirection::Sink)
        .map(|t| t.caps())
        .collect()
}

/// Every factory the wrapper may hold for `role`: ours at any rank (a rank
/// lowered to keep them out of autoplugging does not hide them from the
/// wrapper), stock ones at MARGINAL or above, never one that accepts ANY caps
/// (rtpgstpay would otherwise take every media type).
pub fn candidates(role: Role) -> Vec<(gst::ElementFactory, bool)> {
    gst::ElementFactory::factories_with_type(role.factory_type(), gst::Rank::NONE)
        .into_iter()
        .filter_map(|f| {
            let name = f.name();
            if WRAPPERS.contains(&name.as_str()) {
                return None;
            }
            let native = is_native(&name);
            if !native && f.rank() < gst::Rank::MARGINAL {
                return None;
            }
            let templates = sink_template_caps(&f);
            if templates.is_empty() || templates.iter().any(|c| c.is_any()) {
                return None;
            }
            Some((f, native))
        })
        .collect()
}

/// The element for `caps`: the highest-ranked native one that can take them,
/// else the highest-ranked stock one; ties broken by name like decodebin.
pub fn choose(role: Role, caps: &gst::CapsRef) -> Option<Choice> {
    let mut fitting: Vec<(gst::ElementFactory, bool)> = candidates(role)
        .into_iter()
        .filter(|(f, _)| f.can_sink_any_caps(caps))
        .collect();
    fitting.sort_by(|(a, an), (b, bn)| {
        bn.cmp(an)
            .then(b.rank().cmp(&a.rank()))
            .then(a.name().cmp(&b.name()))
    });
    fitting
        .into_iter()
        .next()
        .map(|(factory, native)| Choice { factory, native })
}

/// What the wrapper's sink pad can accept before it holds an element: the
/// union of every candidate's sink template (natives first).
pub fn acceptable_caps(role: Role) -> gst::Caps {
    let mut all = candidates(role);
    all.sort_by(|(a, an), (b, bn)| bn.cmp(an).then(b.rank().cmp(&a.rank())));
    let mut caps = gst::Caps::new_empty();
    for (f, _) in all {
        for c in sink_template_caps(&f) {
            caps.merge(c);
        }
    }
    caps
}

/// The media type named in an error: the structure name(s) of `caps`.
pub fn media_types(caps: &gst::CapsRef) -> String {
    let names: Vec<&str> = caps.iter().map(|s| s.name().as_str()).collect();
    if names.is_empty() {
        caps.to_string()
    } else {
        names.join(", ")
    }
}

/// For RTP caps the payload format is in `encoding-name`: name it too.
pub fn describe(caps: &gst::CapsRef) -> String {
    let media = media_types(caps);
    match caps
        .structure(0)
        .and_then(|s| s.get::<&str>("encoding-name").ok())
    {
        Some(enc) => format!("{media} (encoding-name={enc})"),
        None => media,
    }
}
