//! [`Canvas`]: an RGB image to draw on (features over a frame), turned into a [`Png`].

use super::error::DisplayError;
use super::png::Png;
use crate::frames::Frame;
use ndarray::{Array3, ArrayBase, Data, Ix2, Ix3};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Red, for marking features.
pub const RED: Rgb = [230, 25, 45];
/// Green.
pub const GREEN: Rgb = [40, 200, 80];
/// Blue.
pub const BLUE: Rgb = [40, 110, 230];
/// Yellow.
pub const YELLOW: Rgb = [250, 220, 20];

/// An 8-bit RGB image to draw marks on, e.g. the features found in a frame:
///
/// ```
/// use ndarray::Array2;
/// use rustpx::display::{Canvas, RED};
/// let frame = Array2::<f32>::from_shape_fn((64, 64), |(r, c)| (r + c) as f32);
/// let features = [(20.0, 30.0), (40.5, 12.25)]; // (x = column, y = row)
/// let png = Canvas::gray(&frame).circles(features, 5.0, RED).png().unwrap();
/// assert_eq!((png.width(), png.height()), (64, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    /// height × width × 3.
    pixels: Array3<u8>,
}

impl Canvas {
    /// A gray image scaled so its smallest finite value is black and its largest white
    /// (like matplotlib's `imshow`). NaN and infinite values are drawn black; a
    /// constant image is black.
    pub fn gray<A, S>(image: &ArrayBase<S, Ix2>) -> Canvas
    where
        A: Copy + Into<f64>,
        S: Data<Elem = A>,
    {
        let (lo, hi) = image
            .iter()
            .map(|&v| v.into())
            .filter(|v: &f64| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        let (h, w) = image.dim();
        let pixels = Array3::from_shape_fn((h, w, 3), |(r, c, _)| {
            let v: f64 = image[[r, c]].into();
            if v.is_finite() {
                ((v - lo) * scale).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        });
        Canvas { pixels }
    }

    /// An 8-bit colour image, height × width × channels: 3 (RGB) as is, 4 (RGBA)
    /// without its alpha, 1 or 2 (gray, gray + alpha) as gray.
    pub fn rgb8<S: Data<Elem = u8>>(image: &ArrayBase<S, Ix3>) -> Canvas {
        let (h, w, c) = image.dim();
        let pixels = Array3::from_shape_fn((h, w, 3), |(r, col, k)| match c {
            0 => 0,
            1 | 2 => image[[r, col, 0]],
            _ => image[[r, col, k]],
        });
        Canvas { pixels }
    }

    /// A frame for viewing: 8-bit gray as is, 16-bit gray scaled to its own range
    /// (scientific cameras rarely use the full 16 bits), colour as 8-bit RGB.
    pub fn frame(frame: &Frame) -> Canvas {
        match frame {
            Frame::Gray8(a) => {
                let (h, w) = a.dim();
                Canvas {
                    pixels: Array3::from_shape_fn((h, w, 3), |(r, c, _)| a[[r, c]]),
                }
            }
            Frame::Gray16(a) => Canvas::gray(a),
            other => Canvas {
                pixels: other.clone().into_rgb8(),
            },
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.pixels.dim().1
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.pixels.dim().0
    }

    /// The pixels, height × width × 3.
    pub fn pixels(&self) -> &Array3<u8> {
        &self.pixels
    }

    /// Draws a circle outline (1 pixel wide) centred at column `x`, row `y` (sub-pixel
    /// positions allowed, as trackpy reports them). Parts outside the image are clipped.
    pub fn circle(mut self, x: f64, y: f64, radius: f64, color: Rgb) -> Canvas {
        self.draw_circle(x, y, radius, color);
        self
    }

    /// Draws a circle around each `(x, y)` point (x = column, y = row).
    pub fn circles(
        mut self,
        points: impl IntoIterator<Item = (f64, f64)>,
        radius: f64,
        color: Rgb,
    ) -> Canvas {
        for (x, y) in points {
            self.draw_circle(x, y, radius, color);
        }
        self
    }

    fn draw_circle(&mut self, x: f64, y: f64, radius: f64, color: Rgb) {
        if !(x.is_finite() && y.is_finite() && radius.is_finite()) {
            return;
        }
        let (h, w) = (self.height() as f64, self.width() as f64);
        let reach = radius.abs() + 1.0;
        // Only the circle's bounding box, clipped to the image.
        let r0 = (y - reach).floor().max(0.0);
        let r1 = (y + reach).ceil().min(h - 1.0);
        let c0 = (x - reach).floor().max(0.0);
        let c1 = (x + reach).ceil().min(w - 1.0);
        if r0 > r1 || c0 > c1 {
            return;
        }
        for r in r0 as usize..=r1 as usize {
            for c in c0 as usize..=c1 as usize {
                let d = ((r as f64 - y).powi(2) + (c as f64 - x).powi(2)).sqrt();
                if (d - radius.abs()).abs() <= 0.5 {
                    for (k, &v) in color.iter().enumerate() {
                        self.pixels[[r, c, k]] = v;
                    }
                }
            }
        }
    }

    /// Encodes the canvas as PNG. Fails only for an image with no pixels.
    pub fn png(&self) -> Result<Png, DisplayError> {
        Png::encode_rgb8(&self.pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn gray_scales_to_full_range_and_handles_nan() {
        let c = Canvas::gray(&array![[10.0f32, 20.0], [f32::NAN, 15.0]]);
        let p = c.pixels();
        assert_eq!(
            (p[[0, 0, 0]], p[[0, 1, 0]], p[[1, 0, 0]], p[[1, 1, 0]]),
            (0, 255, 0, 128)
        );
        assert_eq!(p[[0, 1, 2]], 255);
        let flat = Canvas::gray(&Array2::from_elem((2, 2), 7u16));
        assert!(flat.pixels().iter().all(|&v| v == 0));
    }

    #[test]
    fn circles_are_drawn_where_asked_and_clipped() {
        let c = Canvas::gray(&Array2::<u8>::zeros((21, 21))).circle(10.0, 10.0, 5.0, RED);
        let p = c.pixels();
        assert_eq!(
            [p[[10, 15, 0]], p[[10, 15, 1]], p[[10, 15, 2]]],
            RED,
            "right edge (x=15, y=10)"
        );
        assert_eq!(p[[5, 10, 0]], RED[0], "top edge");
        assert_eq!(p[[10, 10, 0]], 0, "centre untouched");
        // Off the image and non-finite: clipped, no panic.
        let c = c
            .circle(-50.0, 3.0, 4.0, GREEN)
            .circle(f64::NAN, 1.0, 1.0, BLUE)
            .circle(20.0, 0.0, 3.0, BLUE);
        assert_eq!(c.pixels()[[3, 20, 2]], BLUE[2]);
    }

    #[test]
    fn frames_and_colour() {
        let f = Frame::from(array![[0u16, 1000], [500, 250]]);
        let p = Canvas::frame(&f).pixels().clone();
        assert_eq!((p[[0, 0, 0]], p[[0, 1, 0]]), (0, 255));
        let rgba = Array3::from_shape_vec((1, 1, 4), vec![1u8, 2, 3, 4]).unwrap();
        assert_eq!(Canvas::rgb8(&rgba).pixels().as_slice().unwrap(), &[1, 2, 3]);
        let gray = Array3::from_shape_vec((1, 1, 1), vec![9u8]).unwrap();
        assert_eq!(Canvas::rgb8(&gray).pixels().as_slice().unwrap(), &[9, 9, 9]);
    }
}
