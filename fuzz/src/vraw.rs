//! Frame layouts for the raw-video targets.

use gstrsrtpfast::core::vraw::{Geometry, PlaneLayout, Sampling};

/// GStreamer's default layout of a frame (strides rounded up to 4 bytes)
/// with `pad` more bytes per line; returns the layout and the frame size.
pub fn layout(g: &Geometry, pad: usize) -> (PlaneLayout, usize) {
    let w = g.width as usize;
    let h = g.height as usize;
    let r4 = |x: usize| x.div_ceil(4) * 4 + pad;
    let planar = |s0: usize, s1: usize, chroma_rows: usize, luma_rows: usize| {
        let o1 = s0 * luma_rows;
        let o2 = o1 + s1 * chroma_rows;
        (
            PlaneLayout {
                offsets: [0, o1, o2],
                strides: [s0, s1, s1],
            },
            o2 + s1 * chroma_rows,
        )
    };
    match g.sampling {
        Sampling::I420 => {
            let h2 = h.div_ceil(2) * 2;
            planar(r4(w), r4(w.div_ceil(2)), h2 / 2, h2)
        }
        Sampling::Y41b => planar(r4(w), r4(w.div_ceil(4)), h, h),
        Sampling::Ayuv | Sampling::Rgba | Sampling::Bgra => {
            let s = w * 4 + pad;
            (
                PlaneLayout {
                    offsets: [0; 3],
                    strides: [s, 0, 0],
                },
                s * h,
            )
        }
        s => {
            let s = r4(w.div_ceil(s.xinc()) * s.pgroup());
            (
                PlaneLayout {
                    offsets: [0; 3],
                    strides: [s, 0, 0],
                },
                s * h,
            )
        }
    }
}
