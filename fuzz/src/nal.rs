//! The H.264 / H.265 targets, written once over `NalCodec`.

use crate::{rtp_packets, Reader};
use gstrsrtpfast::core::depacketizer::{
    AuInfo, DepayConfig, NalDepacketizer, PacketIn, StreamFormat,
};
use gstrsrtpfast::core::nal::{self, NalCodec, PayloadKind};
use gstrsrtpfast::core::packetizer::{AggregateMode, NalPacketizer, PayConfig};
use gstrsrtpfast::core::rtp::RTP_HEADER_LEN;
use gstrsrtpfast::core::startcode;

/// Depacketizer: settings byte, optional sprop parameter sets, then RTP
/// packets. Every unit it outputs is framed (start code / lengths that
/// cover it exactly), counted, and the output never outgrows the input.
pub fn depay<C: NalCodec>(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let cfg = DepayConfig {
        format: if flags & 1 != 0 {
            StreamFormat::LengthPrefixed
        } else {
            StreamFormat::ByteStream
        },
        au_alignment: flags & 2 != 0,
        wait_for_keyframe: flags & 4 != 0,
    };
    let mut d = NalDepacketizer::<C>::new(cfg);
    if flags & 8 != 0 {
        // Parameter sets out of codec_data (avcC / hvcC) or sprop fields.
        match C::parse_codec_data(r.chunk()) {
            Some((len_size, sets)) => {
                assert!((1..=4).contains(&len_size));
                for nal in sets {
                    if let Some(kind) = C::param_set(C::nal_type(&nal)) {
                        d.set_param(kind, &nal);
                    }
                }
            }
            None => {
                for &kind in C::PARAM_SETS {
                    d.set_param(kind, r.chunk());
                }
            }
        }
    }
    let reset_every = (flags >> 4) as usize; // 0: never

    let mut sink: Vec<u8> = Vec::new();
    let (mut units, mut bytes_out, mut bytes_in, mut packets) = (0u64, 0usize, 0usize, 0u64);
    let mut emit = |sink: &mut Vec<u8>, info: AuInfo| {
        check_unit::<C>(cfg, sink, info);
        units += 1;
        bytes_out += sink.len();
        sink.clear();
    };
    for pkt in rtp_packets(&mut r) {
        packets += 1;
        bytes_in += pkt.payload.len();
        let _ = d.push(
            PacketIn {
                payload: pkt.payload,
                timestamp: pkt.timestamp,
                marker: pkt.marker,
                discont: pkt.discont,
            },
            &mut sink,
            &mut emit,
        );
        // Pending output is bounded by what came in.
        assert!(
            sink.len() <= 5 * bytes_in,
            "sink {} for {bytes_in} in",
            sink.len()
        );
        if reset_every != 0 && (packets as usize).is_multiple_of(reset_every) {
            d.reset(&mut sink);
            assert!(sink.is_empty());
        }
    }
    d.drain(&mut sink, &mut emit);
    assert!(sink.is_empty(), "drain left {} bytes", sink.len());
    // A 4-byte start code per NAL unit of at least one byte in: at most 5
    // bytes out per byte in (a 1-byte single NAL unit).
    assert!(
        bytes_out <= 5 * bytes_in,
        "{bytes_out} out for {bytes_in} in"
    );
    let stats = d.stats();
    assert_eq!(stats.packets, packets);
    assert_eq!(stats.units_out, units);
    assert!(stats.dropped <= packets);
}

fn check_unit<C: NalCodec>(cfg: DepayConfig, unit: &[u8], info: AuInfo) {
    assert!(!unit.is_empty(), "empty unit emitted");
    assert!(info.nal_units >= 1);
    if !cfg.au_alignment {
        assert_eq!(info.nal_units, 1);
    }
    match cfg.format {
        StreamFormat::ByteStream => {
            assert_eq!(&unit[..4], &[0, 0, 0, 1], "unit without a start code");
            assert!(unit.len() >= 4 + C::NAL_HEADER_LEN);
        }
        StreamFormat::LengthPrefixed => {
            let mut n = 0;
            let mut keyframe = false;
            for nal in nal::length_prefixed_nals(unit, 4) {
                let nal = &unit[nal.expect("lengths cover the unit exactly")];
                assert!(nal.len() >= C::NAL_HEADER_LEN);
                let t = C::nal_type(nal);
                assert!(
                    C::param_set(t).is_none(),
                    "parameter set in avc/hvc1 output"
                );
                keyframe |= C::is_keyframe(t);
                n += 1;
            }
            assert_eq!(n, info.nal_units);
            assert_eq!(keyframe, info.keyframe);
        }
    }
}

/// NAL types the depacketizer reads back as a single NAL unit, so a
/// packetize -> depacketize round trip must give them back unchanged.
fn single<C: NalCodec>(nal: &[u8]) -> bool {
    nal.len() >= C::NAL_HEADER_LEN && C::payload_kind(C::nal_type(nal)) == PayloadKind::Single
}

/// Packetizer: settings (MTU, aggregate-mode, config-interval, input
/// framing), then an elementary stream cut into access units. Every packet
/// fits the MTU, points inside the scratch and the input, and depacketizes
/// back to the NAL units that went in (config-interval off, RFC-valid
/// types), in order.
pub fn pay<C: NalCodec>(data: &[u8]) {
    let mut r = Reader::new(data);
    let mtu = RTP_HEADER_LEN + C::FU_OVERHEAD + 1 + r.u16() as usize;
    let flags = r.u8();
    let aggregate = AggregateMode::from_value((flags & 3) as i32);
    let config_interval = match (flags >> 2) & 3 {
        0 | 1 => 0,
        2 => -1,
        _ => (r.u8() % 4) as i32,
    };
    let length_prefixed = flags & 0x10 != 0;
    let len_size = 1 + (flags >> 5 & 3) as usize;
    let cfg = PayConfig {
        mtu,
        aggregate,
        config_interval,
    };
    let mut p = NalPacketizer::<C>::new(cfg);
    let level = gstrsrtpfast::core::simd::SimdLevel::best();
    let mut running_time = 0u64;
    let mut depay = NalDepacketizer::<C>::new(DepayConfig {
        format: StreamFormat::ByteStream,
        au_alignment: false,
        wait_for_keyframe: false,
    });

    while !r.is_empty() {
        // One input buffer (an access unit) at a time, as the element gets it.
        let au = r.chunk();
        running_time += r.u8() as u64 * 100_000_000;
        let nals: Vec<std::ops::Range<usize>> = if length_prefixed {
            nal::length_prefixed_nals(au, len_size)
                .map(|r| r.unwrap_or_else(|cut| cut))
                .collect()
        } else {
            startcode::nal_units(au, level).collect()
        };
        p.begin_for(au.len());
        for range in &nals {
            assert!(range.end <= au.len());
            p.push_nal(au, range.clone(), Some(running_time));
        }
        p.end_au();

        let (packets, scratch) = (p.packets(), p.scratch());
        // The first NAL unit a packet carries is an access unit delimiter
        // (first of an aggregate, first fragment, or a single unit). What
        // the packet is comes from the plan, not its first byte: an input
        // unit of an FU or aggregate type is sent as a single unit.
        let opens_with_aud = |pkt: &gstrsrtpfast::core::packetizer::Packet| {
            let mut bytes = scratch[pkt.inline()].to_vec();
            bytes.extend_from_slice(&au[pkt.payload()]);
            let fragment = pkt.agg_units == 0
                && pkt.inline().len() == C::FU_OVERHEAD
                && !pkt.payload().is_empty();
            if pkt.agg_units >= 2 {
                bytes
                    .get(C::AGG_HEADER_LEN + 2..)
                    .is_some_and(|n| n.len() >= C::NAL_HEADER_LEN && C::nal_type(n) == C::AUD)
            } else if fragment {
                C::fu_parse(&bytes)
                    .is_some_and(|(start, _, header)| start && C::nal_type(&header) == C::AUD)
            } else {
                C::nal_type(&bytes) == C::AUD
            }
        };
        for (i, pkt) in packets.iter().enumerate() {
            assert!(pkt.inline().end <= scratch.len(), "inline past the scratch");
            assert!(pkt.payload().end <= au.len(), "payload past the input");
            assert!(pkt.payload_len() > 0, "empty packet");
            assert!(
                RTP_HEADER_LEN + pkt.payload_len() <= mtu,
                "packet of {} over MTU {mtu}",
                RTP_HEADER_LEN + pkt.payload_len()
            );
            // The marker ends the access unit; an access unit delimiter
            // starts the next one, closing the aggregate held before it.
            let last = i + 1 == packets.len();
            assert_eq!(
                pkt.marker,
                last || pkt.agg_units > 0 && opens_with_aud(&packets[i + 1]),
                "marker on the last packet of each access unit"
            );
        }

        // Round trip through the depacketizer: NAL units of RFC-valid types
        // come back unchanged (others are sent as they are, and refused).
        let want: Vec<&[u8]> = nals
            .iter()
            .map(|r| &au[r.clone()])
            .filter(|n| n.len() >= C::NAL_HEADER_LEN)
            .collect();
        let all_single = want.iter().all(|n| single::<C>(n));
        let mut sink = Vec::new();
        // Compared as they come out: no copy per NAL unit or packet.
        let check = all_single && config_interval == 0;
        let mut got = 0usize;
        let mut payload = Vec::new();
        for pkt in packets {
            payload.clear();
            payload.extend_from_slice(&scratch[pkt.inline()]);
            payload.extend_from_slice(&au[pkt.payload()]);
            let pushed = depay.push(
                PacketIn {
                    payload: &payload,
                    timestamp: 0,
                    marker: false,
                    discont: false,
                },
                &mut sink,
                &mut |s: &mut Vec<u8>, _| {
                    if check {
                        let w = want.get(got).expect("more NAL units out than in");
                        assert_eq!(&s[4..], *w, "NAL unit {got} changed in the round trip");
                    }
                    got += 1;
                    s.clear();
                },
            );
            if all_single {
                pushed.expect("our own packet refused");
            }
        }
        if check {
            assert_eq!(got, want.len(), "NAL units lost");
        }
        if !all_single {
            // Refused or partial units: start the next AU clean.
            depay.reset(&mut sink);
        }
        p.release_large();
    }
    // codec_data from what was seen parses back to the same parameter sets.
    if let Some(codec_data) = C::build_codec_data(p.params()) {
        let (len_size, sets) = C::parse_codec_data(&codec_data).expect("own codec_data parses");
        assert_eq!(len_size, 4);
        let want: Vec<&[u8]> = C::PARAM_SETS
            .iter()
            .map(|&k| p.params().get(k).unwrap())
            .collect();
        assert_eq!(sets, want, "codec_data round trip");
    }
}
