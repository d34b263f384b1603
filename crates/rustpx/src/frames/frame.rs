//! One decoded frame at its native depth, and its conversions to analysis arrays.

use super::error::FrameError;
use image::{DynamicImage, ImageBuffer};
use ndarray::{Array2, Array3, Axis};
use std::convert::Infallible;
use std::path::Path;

/// Rec. 709 luma weights, the ones scikit-image's `rgb2gray` uses, so gray frames match
/// what a Python user of the same data would see.
const LUMA: [f32; 3] = [0.2125, 0.7154, 0.0721];

/// One decoded image at its native bit depth, as an ndarray (row-major, `[row, column]`
/// and `[row, column, channel]`).
///
/// This is what [`ImageSequence::open`](crate::frames::ImageSequence::open) yields
/// before any per-frame processing. Most analyses want one of the conversions:
/// [`Frame::into_gray`] (an `Array2<f32>` in the file's own intensity scale: 0–255 for
/// 8-bit files, 0–65535 for 16-bit ones, so counts stay counts) or
/// [`Frame::into_rgb8`] (an `Array3<u8>`, height × width × 3, for display).
///
/// ```
/// use ndarray::array;
/// use rustpx::frames::Frame;
/// let frame = Frame::from(array![[0u16, 1000], [40000, 65535]]);
/// assert_eq!((frame.height(), frame.width(), frame.channels()), (2, 2, 1));
/// assert_eq!(frame.into_gray()[[1, 0]], 40000.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Frame {
    /// One channel, 8 bits per sample.
    Gray8(Array2<u8>),
    /// One channel, 16 bits per sample (scientific cameras, 16-bit TIFF and PNG).
    Gray16(Array2<u16>),
    /// 2 to 4 channels (gray + alpha, RGB, RGBA), 8 bits per sample, height × width × channels.
    Color8(Array3<u8>),
    /// 2 to 4 channels, 16 bits per sample, height × width × channels.
    Color16(Array3<u16>),
    /// 3 or 4 channels of 32-bit floats (float TIFF), height × width × channels.
    ColorF32(Array3<f32>),
}

impl Frame {
    /// Decodes the image file at `path` (PNG, JPEG or TIFF; the format is taken from
    /// the file's content, not its name). A multi-page TIFF yields its first page.
    ///
    /// The error names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Frame, FrameError> {
        let path = path.as_ref();
        let decode_error = |message: String| FrameError::Decode {
            path: path.to_path_buf(),
            message,
        };
        let image = image::ImageReader::open(path)
            .map_err(|e| decode_error(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| decode_error(e.to_string()))?
            .decode()
            .map_err(|e| decode_error(e.to_string()))?;
        Ok(Frame::from_image(image))
    }

    /// Converts an `image` crate image, keeping its bit depth.
    pub fn from_image(image: DynamicImage) -> Frame {
        let (w, h) = (image.width() as usize, image.height() as usize);
        // The buffers are exactly w*h*channels long, so the shapes always fit.
        let color = |c: usize| (h, w, c);
        let result = match image {
            DynamicImage::ImageLuma8(b) => {
                Array2::from_shape_vec((h, w), b.into_raw()).map(Frame::Gray8)
            }
            DynamicImage::ImageLuma16(b) => {
                Array2::from_shape_vec((h, w), b.into_raw()).map(Frame::Gray16)
            }
            DynamicImage::ImageLumaA8(b) => {
                Array3::from_shape_vec(color(2), b.into_raw()).map(Frame::Color8)
            }
            DynamicImage::ImageRgb8(b) => {
                Array3::from_shape_vec(color(3), b.into_raw()).map(Frame::Color8)
            }
            DynamicImage::ImageRgba8(b) => {
                Array3::from_shape_vec(color(4), b.into_raw()).map(Frame::Color8)
            }
            DynamicImage::ImageLumaA16(b) => {
                Array3::from_shape_vec(color(2), b.into_raw()).map(Frame::Color16)
            }
            DynamicImage::ImageRgb16(b) => {
                Array3::from_shape_vec(color(3), b.into_raw()).map(Frame::Color16)
            }
            DynamicImage::ImageRgba16(b) => {
                Array3::from_shape_vec(color(4), b.into_raw()).map(Frame::Color16)
            }
            DynamicImage::ImageRgb32F(b) => {
                Array3::from_shape_vec(color(3), b.into_raw()).map(Frame::ColorF32)
            }
            // `DynamicImage` is non-exhaustive: anything newer goes through RGBA float,
            // which every pixel type converts to without loss of range.
            other => Array3::from_shape_vec(color(4), other.into_rgba32f().into_raw())
                .map(Frame::ColorF32),
        };
        result.unwrap_or_else(|_| unreachable!("image buffers are height*width*channels long"))
    }

    /// Height in pixels (rows).
    pub fn height(&self) -> usize {
        self.dim().0
    }

    /// Width in pixels (columns).
    pub fn width(&self) -> usize {
        self.dim().1
    }

    /// Number of channels: 1 for gray, 2 for gray + alpha, 3 for RGB, 4 for RGBA.
    pub fn channels(&self) -> usize {
        self.dim().2
    }

    /// Bits per sample: 8, 16 or 32 (float).
    pub fn bit_depth(&self) -> u32 {
        match self {
            Frame::Gray8(_) | Frame::Color8(_) => 8,
            Frame::Gray16(_) | Frame::Color16(_) => 16,
            Frame::ColorF32(_) => 32,
        }
    }

    fn dim(&self) -> (usize, usize, usize) {
        match self {
            Frame::Gray8(a) => (a.nrows(), a.ncols(), 1),
            Frame::Gray16(a) => (a.nrows(), a.ncols(), 1),
            Frame::Color8(a) => a.dim(),
            Frame::Color16(a) => a.dim(),
            Frame::ColorF32(a) => a.dim(),
        }
    }

    /// The frame as one channel of `f32` in the file's own intensity scale.
    ///
    /// Gray frames keep their values (a 16-bit count of 40000 stays 40000.0). Colour
    /// frames become Rec. 709 luma, `0.2125 R + 0.7154 G + 0.0721 B` (scikit-image's
    /// `rgb2gray` weights) in the same scale; gray + alpha keeps the gray channel. Alpha
    /// is ignored.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use rustpx::frames::Frame;
    /// let red = Frame::try_from(Array3::from_shape_vec((1, 1, 3), vec![200u8, 0, 0]).unwrap()).unwrap();
    /// assert!((red.into_gray()[[0, 0]] - 0.2125 * 200.0).abs() < 1e-3);
    /// ```
    pub fn into_gray(self) -> Array2<f32> {
        match self {
            Frame::Gray8(a) => a.mapv(f32::from),
            Frame::Gray16(a) => a.mapv(f32::from),
            Frame::Color8(a) => luma(a.mapv(f32::from)),
            Frame::Color16(a) => luma(a.mapv(f32::from)),
            Frame::ColorF32(a) => luma(a),
        }
    }

    /// One channel (0 = red or gray, 1 = green or alpha, ...) as `f32` in the file's
    /// scale, like trackpy tutorials' `image[:, :, 0]`. On a gray frame, channel 0 is
    /// the frame itself.
    ///
    /// Fails with [`FrameError::Shape`] if the frame has no such channel.
    pub fn into_channel(self, channel: usize) -> Result<Array2<f32>, FrameError> {
        let (h, w, c) = self.dim();
        if channel >= c {
            return Err(FrameError::Shape {
                shape: vec![h, w, c],
                message: format!("there is no channel {channel}"),
            });
        }
        Ok(match self {
            Frame::Gray8(a) => a.mapv(f32::from),
            Frame::Gray16(a) => a.mapv(f32::from),
            Frame::Color8(a) => a.index_axis(Axis(2), channel).mapv(f32::from),
            Frame::Color16(a) => a.index_axis(Axis(2), channel).mapv(f32::from),
            Frame::ColorF32(a) => a.index_axis_move(Axis(2), channel),
        })
    }

    /// The frame as 8-bit RGB, height × width × 3, for display: gray is repeated in the
    /// three channels, 16-bit samples keep their top 8 bits, floats are clamped to
    /// 0–1 and scaled to 0–255, alpha is dropped.
    pub fn into_rgb8(self) -> Array3<u8> {
        let rgb = self.into_image().into_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        Array3::from_shape_vec((h, w, 3), rgb.into_raw())
            .unwrap_or_else(|_| unreachable!("an RGB buffer is height*width*3 long"))
    }

    /// The frame as an `image` crate image, at its own bit depth.
    pub fn into_image(self) -> DynamicImage {
        let frame = self.normalized();
        let (h, w, c) = frame.dim();
        // Each array has exactly h*w*c elements in standard order, which is all the
        // buffer constructor checks, so it cannot fail.
        macro_rules! buffer {
            ($variant:ident, $raw:expr) => {
                DynamicImage::$variant(
                    ImageBuffer::from_raw(w as u32, h as u32, $raw).unwrap_or_else(|| {
                        unreachable!("frame arrays are height*width*channels long")
                    }),
                )
            };
        }
        match (frame, c) {
            (Frame::Gray8(a), _) => buffer!(ImageLuma8, raw(a)),
            (Frame::Gray16(a), _) => buffer!(ImageLuma16, raw(a)),
            (Frame::Color8(a), 2) => buffer!(ImageLumaA8, raw(a)),
            (Frame::Color8(a), 3) => buffer!(ImageRgb8, raw(a)),
            (Frame::Color8(a), _) => buffer!(ImageRgba8, raw(a)),
            (Frame::Color16(a), 2) => buffer!(ImageLumaA16, raw(a)),
            (Frame::Color16(a), 3) => buffer!(ImageRgb16, raw(a)),
            (Frame::Color16(a), _) => buffer!(ImageRgba16, raw(a)),
            (Frame::ColorF32(a), 3) => buffer!(ImageRgb32F, raw(a)),
            (Frame::ColorF32(a), _) => buffer!(ImageRgba32F, raw(a)),
        }
    }

    /// The same frame with a channel count the `image` crate has a pixel type for.
    /// The variants are public, so a user can build e.g. a 1- or 6-channel `Color8`;
    /// rather than panic, such frames are brought into range: no channels become a
    /// black gray frame, 1 channel a gray frame, more than 4 keep the first 4, and
    /// float frames with fewer than 3 are spread to RGB(A).
    fn normalized(self) -> Frame {
        let (h, w, c) = self.dim();
        match self {
            Frame::Color8(_) | Frame::Color16(_) | Frame::ColorF32(_) if c == 0 => {
                Frame::Gray8(Array2::zeros((h, w)))
            }
            Frame::Color8(a) if c == 1 => Frame::Gray8(a.index_axis_move(Axis(2), 0)),
            Frame::Color16(a) if c == 1 => Frame::Gray16(a.index_axis_move(Axis(2), 0)),
            Frame::Color8(a) if c > 4 => Frame::Color8(a.slice_move(ndarray::s![.., .., ..4])),
            Frame::Color16(a) if c > 4 => Frame::Color16(a.slice_move(ndarray::s![.., .., ..4])),
            Frame::ColorF32(a) if c > 4 => Frame::ColorF32(a.slice_move(ndarray::s![.., .., ..4])),
            Frame::ColorF32(a) if c < 3 => {
                // Gray (+ alpha) as RGB(A): the gray value in all three colour channels.
                let out_c = if c == 2 { 4 } else { 3 };
                Frame::ColorF32(Array3::from_shape_fn((h, w, out_c), |(r, col, k)| {
                    a[[r, col, if k == 3 { 1 } else { 0 }]]
                }))
            }
            other => other,
        }
    }

    /// Writes the frame to `path`; the format comes from the extension (`.png`,
    /// `.tif`/`.tiff`, `.jpg`/`.jpeg`). PNG and TIFF keep 16-bit frames at 16 bits;
    /// JPEG takes 8-bit gray or RGB only.
    ///
    /// ```
    /// use ndarray::array;
    /// use rustpx::frames::Frame;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("f.tif");
    /// let frame = Frame::from(array![[1u16, 2], [3, 60000]]);
    /// frame.save(&path).unwrap();
    /// assert_eq!(Frame::open(&path).unwrap(), frame);
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FrameError> {
        let path = path.as_ref();
        self.clone()
            .into_image()
            .save(path)
            .map_err(|e| FrameError::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }
}

/// The elements of an array in standard (row-major) order, without copying when the
/// array already is.
///
/// A standard-layout array may still be a window of a larger allocation (sliced from the
/// top or the bottom): its elements start at the returned offset and run for its length.
fn raw<A: Clone, D: ndarray::Dimension>(a: ndarray::Array<A, D>) -> Vec<A> {
    if !a.is_standard_layout() {
        return a.iter().cloned().collect();
    }
    let len = a.len();
    let (mut v, offset) = a.into_raw_vec_and_offset();
    let start = if len == 0 {
        v.len()
    } else {
        offset.unwrap_or(0)
    };
    v.drain(..start);
    v.truncate(len);
    v
}

/// Rec. 709 luma of an h×w×c array (c ≥ 3), or its first channel (c ≤ 2: gray + alpha).
fn luma(a: Array3<f32>) -> Array2<f32> {
    if a.len_of(Axis(2)) == 0 {
        return Array2::zeros((a.len_of(Axis(0)), a.len_of(Axis(1))));
    }
    if a.len_of(Axis(2)) < 3 {
        return a.index_axis_move(Axis(2), 0);
    }
    let (h, w, _) = a.dim();
    Array2::from_shape_fn((h, w), |(r, c)| {
        LUMA[0] * a[[r, c, 0]] + LUMA[1] * a[[r, c, 1]] + LUMA[2] * a[[r, c, 2]]
    })
}

impl From<Array2<u8>> for Frame {
    fn from(a: Array2<u8>) -> Frame {
        Frame::Gray8(a)
    }
}

impl From<Array2<u16>> for Frame {
    fn from(a: Array2<u16>) -> Frame {
        Frame::Gray16(a)
    }
}

impl From<DynamicImage> for Frame {
    fn from(image: DynamicImage) -> Frame {
        Frame::from_image(image)
    }
}

/// Checks the channel count of an h×w×c array for [`Frame`]'s `TryFrom` impls.
fn check_channels(
    shape: &[usize],
    allowed: std::ops::RangeInclusive<usize>,
) -> Result<(), FrameError> {
    if allowed.contains(&shape[2]) {
        Ok(())
    } else {
        Err(FrameError::Shape {
            shape: shape.to_vec(),
            message: format!(
                "a frame has {} to {} channels along the last axis",
                allowed.start(),
                allowed.end()
            ),
        })
    }
}

impl TryFrom<Array3<u8>> for Frame {
    type Error = FrameError;
    /// An h×w×c array with 1 to 4 channels (1 channel becomes a gray frame).
    fn try_from(a: Array3<u8>) -> Result<Frame, FrameError> {
        check_channels(a.shape(), 1..=4)?;
        Ok(if a.len_of(Axis(2)) == 1 {
            Frame::Gray8(a.index_axis_move(Axis(2), 0))
        } else {
            Frame::Color8(a)
        })
    }
}

impl TryFrom<Array3<u16>> for Frame {
    type Error = FrameError;
    /// An h×w×c array with 1 to 4 channels (1 channel becomes a gray frame).
    fn try_from(a: Array3<u16>) -> Result<Frame, FrameError> {
        check_channels(a.shape(), 1..=4)?;
        Ok(if a.len_of(Axis(2)) == 1 {
            Frame::Gray16(a.index_axis_move(Axis(2), 0))
        } else {
            Frame::Color16(a)
        })
    }
}

impl TryFrom<Array3<f32>> for Frame {
    type Error = FrameError;
    /// An h×w×c array of floats with 3 or 4 channels.
    fn try_from(a: Array3<f32>) -> Result<Frame, FrameError> {
        check_channels(a.shape(), 3..=4)?;
        Ok(Frame::ColorF32(a))
    }
}

impl From<Infallible> for FrameError {
    fn from(never: Infallible) -> FrameError {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn roundtrip(frame: &Frame, name: &str) -> Frame {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        frame.save(&path).unwrap();
        Frame::open(&path).unwrap()
    }

    #[test]
    fn png_and_tiff_keep_8_and_16_bits() {
        let g8 = Frame::from(array![[0u8, 7, 255], [1, 2, 3]]);
        let g16 = Frame::from(array![[0u16, 300, 65535], [1, 40000, 3]]);
        for name in ["a.png", "a.tif", "a.tiff"] {
            assert_eq!(roundtrip(&g8, name), g8, "{name}");
            assert_eq!(roundtrip(&g16, name), g16, "{name}");
        }
        assert_eq!(roundtrip(&g16, "a.tif").bit_depth(), 16);
        let rgb16 = Frame::try_from(Array3::from_shape_fn((2, 3, 3), |(r, c, k)| {
            (r * 20000 + c * 1000 + k) as u16
        }))
        .unwrap();
        assert_eq!(roundtrip(&rgb16, "c.tif"), rgb16);
        assert_eq!(roundtrip(&rgb16, "c.png"), rgb16);
    }

    #[test]
    fn float_tiff_round_trips() {
        let f = Frame::try_from(Array3::from_shape_fn((2, 2, 3), |(r, c, k)| {
            (r + c) as f32 * 0.25 + k as f32
        }))
        .unwrap();
        assert_eq!(f.bit_depth(), 32);
        assert_eq!(roundtrip(&f, "f.tif"), f);
    }

    #[test]
    fn jpeg_decodes_close_to_the_original() {
        let g8 = Frame::from(Array2::from_elem((16, 16), 128u8));
        let back = roundtrip(&g8, "a.jpg").into_gray();
        assert!(back.iter().all(|&v| (v - 128.0).abs() <= 2.0));
    }

    #[test]
    fn gray_keeps_the_intensity_scale() {
        let g16 = Frame::from(array![[0u16, 65535]]);
        assert_eq!(g16.into_gray(), array![[0.0f32, 65535.0]]);
        let rgb = Frame::try_from(
            Array3::from_shape_vec((1, 2, 3), vec![100u8, 100, 100, 10, 20, 30]).unwrap(),
        )
        .unwrap();
        let gray = rgb.into_gray();
        assert!(
            (gray[[0, 0]] - 100.0).abs() < 1e-3,
            "equal channels give that value"
        );
        let expected = 0.2125 * 10.0 + 0.7154 * 20.0 + 0.0721 * 30.0;
        assert!((gray[[0, 1]] - expected).abs() < 1e-3);
        let gray_alpha =
            Frame::try_from(Array3::from_shape_vec((1, 1, 2), vec![9u16, 65535]).unwrap()).unwrap();
        assert_eq!(gray_alpha.into_gray(), array![[9.0f32]]);
    }

    #[test]
    fn channels_and_rgb8() {
        let rgba = Frame::try_from(Array3::from_shape_vec((1, 1, 4), vec![1u8, 2, 3, 4]).unwrap())
            .unwrap();
        assert_eq!(rgba.channels(), 4);
        assert_eq!(rgba.clone().into_channel(2).unwrap(), array![[3.0f32]]);
        assert!(matches!(
            rgba.clone().into_channel(4),
            Err(FrameError::Shape { .. })
        ));
        assert_eq!(rgba.into_rgb8().into_raw_vec_and_offset().0, vec![1, 2, 3]);
        let g16 = Frame::from(array![[0x1234u16]]);
        assert_eq!(g16.into_rgb8().into_raw_vec_and_offset().0, vec![0x12; 3]);
    }

    #[test]
    fn bad_shapes_and_unreadable_files_are_errors() {
        let five = Array3::<u8>::zeros((2, 2, 5));
        let err = Frame::try_from(five).unwrap_err();
        assert!(err.to_string().contains("[2, 2, 5]"), "{err}");
        let one = Frame::try_from(Array3::<u8>::zeros((2, 3, 1))).unwrap();
        assert_eq!(one, Frame::Gray8(Array2::zeros((2, 3))));

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not an image").unwrap();
        let err = Frame::open(&junk).unwrap_err();
        assert!(matches!(err, FrameError::Decode { .. }));
        assert!(err.to_string().contains("junk.png"), "{err}");
        let missing = Frame::open(dir.path().join("missing.png")).unwrap_err();
        assert!(missing.to_string().contains("missing.png"), "{missing}");
    }

    #[test]
    fn odd_channel_counts_built_by_hand_do_not_panic() {
        let six = Frame::Color8(Array3::from_shape_fn((1, 2, 6), |(_, c, k)| {
            (c * 10 + k) as u8
        }));
        assert_eq!(
            six.clone().into_rgb8().into_raw_vec_and_offset().0,
            vec![0, 1, 2, 10, 11, 12]
        );
        assert_eq!(six.into_image().color(), image::ColorType::Rgba8);
        let none = Frame::Color16(Array3::zeros((2, 2, 0)));
        assert_eq!(none.clone().into_gray(), Array2::<f32>::zeros((2, 2)));
        assert_eq!(none.into_rgb8(), Array3::<u8>::zeros((2, 2, 3)));
        let one = Frame::Color16(Array3::from_elem((1, 1, 1), 7));
        assert_eq!(one.into_image().color(), image::ColorType::L16);
        let gray_alpha =
            Frame::ColorF32(Array3::from_shape_vec((1, 1, 2), vec![0.5, 1.0]).unwrap());
        assert_eq!(
            gray_alpha.into_rgb8().into_raw_vec_and_offset().0,
            vec![128, 128, 128]
        );
    }

    #[test]
    fn transposed_arrays_are_written_in_their_logical_order() {
        let a = array![[1u8, 2, 3], [4, 5, 6]].reversed_axes();
        let back = roundtrip(&Frame::from(a.clone()), "t.png");
        assert_eq!(back, Frame::Gray8(a));
    }
}
