//! [`Png`]: an encoded PNG image shown inline.

use super::canvas::Canvas;
use super::error::DisplayError;
use super::rich::{RichDisplay, TEXT_PLAIN, bundle, evcxr_display};
use crate::frames::Frame;
use crate::protocol::MimeBundle;
use base64::Engine;
use ndarray::{Array3, ArrayBase, Data, Ix2, Ix3};
use std::io::Cursor;

/// A PNG image, shown inline in a notebook (`image/png`), with a one-line text
/// description as the fallback.
///
/// ```
/// use ndarray::Array2;
/// use rustpx::display::{Png, RichDisplay};
/// let gradient = Array2::from_shape_fn((32, 48), |(r, c)| (r * c) as f64);
/// let png = Png::gray(&gradient).unwrap();
/// assert_eq!(png.bytes()[1..4], *b"PNG");
/// assert_eq!(png.mime_bundle()["text/plain"], "PNG image 48×32");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Png {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

impl Png {
    /// A 2-D array as a gray image, scaled from its minimum (black) to its maximum
    /// (white); see [`Canvas::gray`].
    pub fn gray<A, S>(image: &ArrayBase<S, Ix2>) -> Result<Png, DisplayError>
    where
        A: Copy + Into<f64>,
        S: Data<Elem = A>,
    {
        Canvas::gray(image).png()
    }

    /// An 8-bit colour image, height × width × channels; see [`Canvas::rgb8`].
    pub fn rgb8<S: Data<Elem = u8>>(image: &ArrayBase<S, Ix3>) -> Result<Png, DisplayError> {
        Canvas::rgb8(image).png()
    }

    /// A frame as it is best viewed; see [`Canvas::frame`].
    pub fn frame(frame: &Frame) -> Result<Png, DisplayError> {
        Canvas::frame(frame).png()
    }

    /// Wraps bytes that already hold a PNG image (checked, and its size read).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Png, DisplayError> {
        let (width, height) =
            image::ImageReader::with_format(Cursor::new(&bytes), image::ImageFormat::Png)
                .into_dimensions()
                .map_err(|e| DisplayError::NotPng(e.to_string()))?;
        Ok(Png {
            bytes,
            width,
            height,
        })
    }

    pub(crate) fn encode_rgb8(pixels: &Array3<u8>) -> Result<Png, DisplayError> {
        let (h, w, _) = pixels.dim();
        let (width, height) = (
            u32::try_from(w).map_err(|e| DisplayError::Encode(e.to_string()))?,
            u32::try_from(h).map_err(|e| DisplayError::Encode(e.to_string()))?,
        );
        let raw: Vec<u8> = pixels.iter().copied().collect();
        let mut bytes = Vec::new();
        image::write_buffer_with_format(
            &mut Cursor::new(&mut bytes),
            &raw,
            width,
            height,
            image::ExtendedColorType::Rgb8,
            image::ImageFormat::Png,
        )
        .map_err(|e| DisplayError::Encode(e.to_string()))?;
        Ok(Png {
            bytes,
            width,
            height,
        })
    }

    /// The encoded PNG (write it to a file with `std::fs::write`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The PNG as base64, as Jupyter carries images.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// An `<img>` tag with the image inline, for composing HTML (e.g. in a table).
    pub fn img_tag(&self) -> String {
        format!(
            r#"<img src="data:image/png;base64,{}" width="{}" height="{}"/>"#,
            self.base64(),
            self.width,
            self.height
        )
    }
}

impl RichDisplay for Png {
    fn mime_bundle(&self) -> MimeBundle {
        bundle([
            ("image/png", self.base64()),
            (
                TEXT_PLAIN,
                format!("PNG image {}×{}", self.width, self.height),
            ),
        ])
    }
}

evcxr_display!(Png);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn decode(png: &Png) -> image::RgbImage {
        image::load_from_memory_with_format(png.bytes(), image::ImageFormat::Png)
            .unwrap()
            .into_rgb8()
    }

    #[test]
    fn png_decodes_back_to_the_same_pixels() {
        let rgb = Array3::from_shape_fn((3, 5, 3), |(r, c, k)| (r * 50 + c * 10 + k) as u8);
        let png = Png::rgb8(&rgb).unwrap();
        let back = decode(&png);
        assert_eq!((back.width(), back.height()), (5, 3));
        assert_eq!(back.into_raw(), rgb.iter().copied().collect::<Vec<_>>());

        let gray = Png::gray(&array![[0.0f64, 1.0], [0.5, 0.25]]).unwrap();
        let back = decode(&gray);
        assert_eq!(back.get_pixel(1, 0).0, [255; 3]);
        assert_eq!(back.get_pixel(0, 1).0, [128; 3]);
    }

    #[test]
    fn bundle_is_base64_of_the_bytes() {
        let png = Png::gray(&Array2::<u8>::eye(4)).unwrap();
        let b = png.mime_bundle();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b["image/png"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, png.bytes());
        assert_eq!(b["text/plain"], "PNG image 4×4");
        assert!(
            png.img_tag()
                .starts_with(r#"<img src="data:image/png;base64,iVBOR"#)
        );
    }

    #[test]
    fn bytes_are_checked_and_empty_images_are_errors() {
        let png = Png::gray(&Array2::<u8>::zeros((2, 3))).unwrap();
        let again = Png::from_bytes(png.bytes().to_vec()).unwrap();
        assert_eq!((again.width(), again.height()), (3, 2));
        assert!(matches!(
            Png::from_bytes(b"nope".to_vec()),
            Err(DisplayError::NotPng(_))
        ));
        assert!(matches!(
            Png::gray(&Array2::<u8>::zeros((0, 3))),
            Err(DisplayError::Encode(_))
        ));
    }
}
