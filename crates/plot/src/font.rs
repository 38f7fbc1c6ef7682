//! The font for bitmap text: found at run time and registered with plotters once per process,
//! and an SVG backend wrapper that measures text without one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind};

/// The family every plot uses; the font found is registered under it.
pub(crate) const FAMILY: &str = "sans-serif";

const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    r"C:\Windows\Fonts\arial.ttf",
];

/// The registered font's path, or why there is none (a message for the user).
///
/// `$W2S_FONT`, when set, is the only place looked; otherwise the first of a list of common
/// paths that holds a TrueType or OpenType font.
pub(crate) fn font() -> Result<&'static Path, &'static str> {
    static FONT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FONT.get_or_init(|| match std::env::var_os("W2S_FONT") {
        Some(path) => {
            let path = PathBuf::from(path);
            register(&path).map(|()| path.clone()).map_err(|why| {
                format!(
                    "W2S_FONT={}: {why}; PNG plots were not written (the SVGs were). \
                     Point W2S_FONT at a TrueType font file",
                    path.display()
                )
            })
        }
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| register(p).is_ok())
            .ok_or_else(|| {
                format!(
                    "no font found for PNG plots (looked in {}); only the SVGs were written. \
                     Set W2S_FONT=/path/to/font.ttf to write PNGs too",
                    CANDIDATES.join(", ")
                )
            }),
    })
    .as_deref()
    .map_err(String::as_str)
}

fn register(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it ({e})"))?;
    register_font(FAMILY, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| "not a TrueType or OpenType font".to_string())
}

/// A backend that measures text with the registered font when there is one and estimates its
/// size from the character count otherwise, so that SVGs (whose text the viewer renders) need
/// no font file.
pub(crate) struct Measured<B>(pub B);

impl<B: DrawingBackend> DrawingBackend for Measured<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_text(text, style, pos)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(match style.layout_box(text) {
            Ok(((x0, y0), (x1, y1))) => ((x1 - x0) as u32, (y1 - y0) as u32),
            // SVG viewers draw text at `size / 1.24`; 0.5 of `size` per character is a typical
            // sans-serif advance there, with room to spare.
            Err(_) => {
                let width = text.chars().count() as f64 * style.size() * 0.5;
                (width.ceil() as u32, (style.size() / 1.24).ceil() as u32)
            }
        })
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }
}

/// A generous estimate of the width and height of `text` drawn at `size` in a bitmap, from its
/// character count.
pub(crate) fn estimated_size(text: &str, size: f64) -> (u32, u32) {
    let width = text.chars().count() as f64 * size * 0.6;
    (width.ceil() as u32, (size / 1.24).ceil() as u32)
}
