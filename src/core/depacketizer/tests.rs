use super::*;
use crate::core::nal::{H264, H265};
use crate::core::packetizer::{packet_payloads, AggregateMode, NalPacketizer, PayConfig};
use proptest::prelude::*;

/// (payload, timestamp, marker, discont)
type TestPacket = (Vec<u8>, u32, bool, bool);
type Units = Vec<(Vec<u8>, AuInfo)>;

/// Depacketize `packets` and collect the units and per-packet results.
fn depay<C: NalCodec>(
    cfg: DepayConfig,
    packets: &[TestPacket],
) -> (Units, NalDepacketizer<C>, Vec<Result<(), DropReason>>) {
    let mut d = NalDepacketizer::<C>::new(cfg);
    let mut sink = Vec::new();
    let mut out = Vec::new();
    let mut results = Vec::new();
    for (payload, ts, marker, discont) in packets {
        let pkt = PacketIn {
            payload,
            timestamp: *ts,
            marker: *marker,
            discont: *discont,
        };
        results.push(d.push(pkt, &mut sink, &mut |s: &mut Vec<u8>, info| {
            out.push((std::mem::take(s), info))
        }));
    }
    (out, d, results)
}

fn annexb(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in nals {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(n);
    }
    v
}

fn roundtrip<C: NalCodec>(nals: &[Vec<u8>], pay_cfg: PayConfig) -> Units {
    let mut data = Vec::new();
    let mut ranges = Vec::new();
    for n in nals {
        ranges.push(data.len()..data.len() + n.len());
        data.extend_from_slice(n);
    }
    let mut p = NalPacketizer::<C>::new(pay_cfg);
    p.begin();
    for r in ranges {
        p.push_nal(&data, r, None);
    }
    p.end_au();
    let payloads = packet_payloads(p.packets(), p.scratch(), &data);
    let packets: Vec<_> = payloads
        .into_iter()
        .zip(p.packets().iter().map(|p| p.marker))
        .map(|(pl, m)| (pl, 3000, m, false))
        .collect();
    depay::<C>(DepayConfig::default(), &packets).0
}

fn nal_strategy(header: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (header, proptest::collection::vec(1u8..=255, 0..4000)).prop_map(|(mut h, body)| {
        h.extend(body);
        h
    })
}

fn mode_strategy() -> impl Strategy<Value = AggregateMode> {
    prop_oneof![
        Just(AggregateMode::None),
        Just(AggregateMode::ZeroLatency),
        Just(AggregateMode::Max)
    ]
}

proptest! {
    #[test]
    fn h264_pay_depay_roundtrip(
        // No access unit delimiter (9): one starts a new access unit.
        nals in proptest::collection::vec(nal_strategy((1u8..=23).prop_filter("AUD", |t| *t != 9).prop_map(|t| vec![0x60 | t])), 1..8),
        mtu in 28usize..9000,
        aggregate in mode_strategy(),
    ) {
        let out = roundtrip::<H264>(&nals, PayConfig { mtu, aggregate, config_interval: 0 });
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(&out[0].0, &annexb(&nals));
        prop_assert!(!out[0].1.discont);
    }

    #[test]
    fn h265_pay_depay_roundtrip(
        // No access unit delimiter (35): one starts a new access unit.
        nals in proptest::collection::vec(nal_strategy((0u8..=40, 1u8..=7).prop_filter("AUD", |(t, _)| *t != 35).prop_map(|(t, tid)| vec![t << 1, tid])), 1..8),
        mtu in 28usize..9000,
        aggregate in mode_strategy(),
    ) {
        let out = roundtrip::<H265>(&nals, PayConfig { mtu, aggregate, config_interval: 0 });
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(&out[0].0, &annexb(&nals));
    }

    #[test]
    fn random_packets_never_panic_and_output_is_framed(
        packets in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..300), 0u32..3, any::<bool>(), any::<bool>()),
            0..40),
        length_prefixed in any::<bool>(),
        au in any::<bool>(),
        wait in any::<bool>(),
    ) {
        let cfg = DepayConfig {
            format: if length_prefixed { StreamFormat::LengthPrefixed } else { StreamFormat::ByteStream },
            au_alignment: au,
            wait_for_keyframe: wait,
        };
        for (out, _, _) in [depay::<H264>(cfg, &packets), ] {
            for (unit, _) in out {
                // Every unit parses back into whole NAL units.
                let mut pos = 0;
                while pos < unit.len() {
                    prop_assert!(pos + 4 <= unit.len());
                    let n = if length_prefixed {
                        u32::from_be_bytes(unit[pos..pos + 4].try_into().unwrap()) as usize
                    } else {
                        prop_assert_eq!(&unit[pos..pos + 4], &[0, 0, 0, 1]);
                        let next = unit[pos + 4..].windows(4).position(|w| w == [0, 0, 0, 1]);
                        next.unwrap_or(unit.len() - pos - 4)
                    };
                    prop_assert!(n >= 1);
                    pos += 4 + n;
                }
                prop_assert!(pos <= unit.len());
            }
        }
        let _ = depay::<H265>(cfg, &packets);
    }
}

#[test]
fn stap_with_length_past_end_is_dropped_whole() {
    let pkt = vec![24, 0, 2, 0x67, 0x42, 0, 9, 0x68];
    let (out, d, res) = depay::<H264>(DepayConfig::default(), &[(pkt, 0, true, false)]);
    assert_eq!(res, vec![Err(DropReason::Truncated)]);
    assert!(out.is_empty());
    assert_eq!(d.stats().dropped, 1);
    let zero_len = vec![24, 0, 0];
    let (_, _, res) = depay::<H264>(DepayConfig::default(), &[(zero_len, 0, true, false)]);
    assert_eq!(res, vec![Err(DropReason::Truncated)]);
    let ap_short = vec![48 << 1, 1, 0, 1, 0x40];
    let (_, _, res) = depay::<H265>(DepayConfig::default(), &[(ap_short, 0, true, false)]);
    assert_eq!(res, vec![Err(DropReason::Truncated)]);
}

#[test]
fn fu_without_start_and_type_mismatch_are_dropped() {
    let mid = vec![0x7c, 0x05, 1, 2, 3];
    let (out, d, res) = depay::<H264>(DepayConfig::default(), &[(mid, 0, true, false)]);
    assert_eq!(res, vec![Err(DropReason::FuWithoutStart)]);
    assert!(out.is_empty());
    assert_eq!(d.stats().dropped, 1);

    let start = vec![0x7c, 0x85, 1, 2, 3];
    let other = vec![0x7c, 0x41, 4, 5];
    let single = vec![0x41, 9, 9];
    let (out, _, res) = depay::<H264>(
        DepayConfig::default(),
        &[
            (start, 0, false, false),
            (other, 0, false, false),
            (single.clone(), 0, true, false),
        ],
    );
    assert_eq!(res[1], Err(DropReason::FuTypeMismatch));
    // The damaged NAL is gone, the intact one survives, the AU is flagged.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, annexb(&[single]));
    assert!(out[0].1.discont);
}

#[test]
fn unsupported_and_bad_fu_are_dropped() {
    for (pkt, reason) in [
        (vec![25u8, 0, 0], DropReason::Unsupported(25)),
        (vec![29u8, 0x85, 0], DropReason::Unsupported(29)),
        (vec![0x7c, 0xc5, 1], DropReason::BadFu),
        (vec![0x7c], DropReason::BadFu),
        (vec![], DropReason::Empty),
    ] {
        let (_, _, res) = depay::<H264>(DepayConfig::default(), &[(pkt, 0, true, false)]);
        assert_eq!(res, vec![Err(reason)]);
    }
    let (_, _, res) = depay::<H265>(
        DepayConfig::default(),
        &[(vec![50 << 1, 1, 0], 0, true, false)],
    );
    assert_eq!(res, vec![Err(DropReason::Unsupported(50))]);
    let (_, _, res) = depay::<H265>(DepayConfig::default(), &[(vec![0x26], 0, true, false)]);
    assert_eq!(res, vec![Err(DropReason::Truncated)]);
}

#[test]
fn loss_mid_fragment_drops_the_nal_and_flags_discont() {
    let sps = vec![0x67, 1, 2];
    let start = vec![0x7c, 0x85, 1, 2, 3];
    let end = vec![0x7c, 0x45, 4, 5];
    let (out, mut d, _) = depay::<H264>(
        DepayConfig::default(),
        &[
            (sps.clone(), 0, false, false),
            (start, 0, false, false),
            (end, 0, true, true), // previous middle fragment lost
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, annexb(&[sps]));
    assert!(out[0].1.discont);
    assert_eq!(d.stats().lost_fragments, 1);
    assert!(d.take_loss());
}

#[test]
fn timestamp_change_completes_au_without_marker() {
    let a = vec![0x41, 1];
    let b = vec![0x41, 2];
    let (out, _, _) = depay::<H264>(
        DepayConfig::default(),
        &[(a.clone(), 0, false, false), (b.clone(), 3000, true, false)],
    );
    assert_eq!(
        out.iter().map(|o| o.0.clone()).collect::<Vec<_>>(),
        vec![annexb(&[a]), annexb(&[b])]
    );
}

#[test]
fn parameter_sets_with_their_own_timestamp_go_with_the_next_picture() {
    let sps = vec![0x67, 0x42, 0, 0x1e];
    let pps = vec![0x68, 0xce];
    let idr = vec![0x65, 0x88];
    let mut stap = vec![0x78];
    for n in [&sps, &pps] {
        stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        stap.extend_from_slice(n);
    }
    let (out, _, _) = depay::<H264>(
        DepayConfig::default(),
        &[(stap, 0, false, false), (idr.clone(), 3000, true, false)],
    );
    assert_eq!(out.len(), 1, "no unit of parameter sets alone");
    assert_eq!(out[0].0, annexb(&[sps, pps, idr]));
    assert!(out[0].1.keyframe && out[0].1.param_sets && out[0].1.marker);
}

#[test]
fn marker_on_the_unit_it_completed() {
    let a = vec![0x41, 1];
    let b = vec![0x41, 2];
    let mut stap = vec![0x78];
    for n in [&a, &b] {
        stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        stap.extend_from_slice(n);
    }
    let packets = [(a.clone(), 0, false, false), (stap, 3000, true, false)];
    // au: the first unit ends on the timestamp change, the second on the marker.
    let (out, _, _) = depay::<H264>(DepayConfig::default(), &packets);
    let markers: Vec<_> = out.iter().map(|o| o.1.marker).collect();
    assert_eq!(markers, [false, true]);
    // nal: the last NAL unit of the marker packet.
    let nal = DepayConfig {
        au_alignment: false,
        ..Default::default()
    };
    let (out, _, _) = depay::<H264>(nal, &packets);
    let markers: Vec<_> = out.iter().map(|o| o.1.marker).collect();
    assert_eq!(markers, [false, false, true]);
}

#[test]
fn wait_for_keyframe_drops_until_intact_keyframe() {
    let cfg = DepayConfig {
        wait_for_keyframe: true,
        ..Default::default()
    };
    let p = vec![0x41, 1];
    let idr = vec![0x65, 1];
    let (out, d, _) = depay::<H264>(
        cfg,
        &[
            (p.clone(), 0, true, false),   // no keyframe yet: dropped
            (idr.clone(), 1, true, false), // keyframe: out
            (p.clone(), 2, true, false),   // out
            (p.clone(), 3, true, true),    // after loss: dropped
            (idr.clone(), 4, true, false), // out, flagged discont
        ],
    );
    let units: Vec<_> = out
        .iter()
        .map(|o| (o.0.clone(), o.1.keyframe, o.1.discont))
        .collect();
    assert_eq!(
        units,
        vec![
            // Units were dropped before it, so it is flagged too.
            (annexb(std::slice::from_ref(&idr)), true, true),
            (annexb(&[p]), false, false),
            (annexb(&[idr]), true, true),
        ]
    );
    assert_eq!(d.stats().dropped_units, 2);
}

#[test]
fn length_prefixed_output_strips_params_into_state() {
    let cfg = DepayConfig {
        format: StreamFormat::LengthPrefixed,
        ..Default::default()
    };
    let sps = vec![0x67, 0x42, 0xc0, 0x15];
    let pps = vec![0x68, 0xcb];
    let idr: Vec<u8> = std::iter::once(0x65)
        .chain((0..3000).map(|i| (i % 200) as u8 + 1))
        .collect();
    let mut data = Vec::new();
    let mut ranges = Vec::new();
    for n in [&sps, &pps, &idr] {
        ranges.push(data.len()..data.len() + n.len());
        data.extend_from_slice(n);
    }
    let mut p = NalPacketizer::<H264>::new(PayConfig::default());
    p.begin();
    for r in ranges {
        p.push_nal(&data, r, None);
    }
    p.end_au();
    let payloads = packet_payloads(p.packets(), p.scratch(), &data);
    let n = payloads.len();
    let packets: Vec<_> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, pl)| (pl, 0, i == n - 1, false))
        .collect();
    let (out, mut d, _) = depay::<H264>(cfg, &packets);
    let mut expect = (idr.len() as u32).to_be_bytes().to_vec();
    expect.extend_from_slice(&idr);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, expect);
    assert!(out[0].1.keyframe);
    assert!(d.take_params_changed());
    assert_eq!(d.params().get(ParamSet::Sps), Some(&sps[..]));
    assert_eq!(d.params().get(ParamSet::Pps), Some(&pps[..]));
}

#[test]
fn nal_alignment_emits_each_nal() {
    let cfg = DepayConfig {
        au_alignment: false,
        ..Default::default()
    };
    let stap = vec![24, 0, 2, 0x67, 1, 0, 2, 0x68, 2];
    let (out, _, _) = depay::<H264>(cfg, &[(stap, 0, true, false)]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, annexb(&[vec![0x67, 1]]));
    assert_eq!(out[1].0, annexb(&[vec![0x68, 2]]));
}
